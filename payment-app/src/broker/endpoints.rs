//! The broker's addresses (`AMQP_URL`, comma-separated: the nodes of one
//! RabbitMQ cluster) and the order to try them in.
//!
//! Connecting tries each address in turn, and a reconnect starts at the
//! address after the one whose connection was lost: when a node goes down,
//! the process moves to the next node at once instead of first waiting for
//! the dead one to refuse it (or, behind a load balancer or on a blackholed
//! host, to time out). The rule is kept apart from the I/O so that it can
//! be tested as a table.

use lapin::uri::AMQPUri;
use payrail_common::SecretUrl;

use crate::error::{Error, Result};

/// Addresses of the nodes of one broker cluster, and where to start.
#[derive(Debug, Clone)]
pub struct Endpoints {
    urls: Vec<SecretUrl>,
    /// The address to try first on the next connect.
    next: usize,
}

impl Endpoints {
    /// Refuses an empty list, an address that is not an AMQP URL, and
    /// addresses that name different vhosts: the list is one cluster seen
    /// through several nodes, and every queue payrail declares lives in
    /// that one vhost, so a list mixing vhosts would split the work.
    pub fn new(urls: Vec<SecretUrl>) -> Result<Self> {
        let mut vhost: Option<String> = None;
        for url in &urls {
            // AMQPUri's own error may quote the URL, password included.
            let parsed: AMQPUri = url
                .expose_secret()
                .parse()
                .map_err(|_| Error::Config(format!("AMQP_URL entry {url} is not an AMQP URL")))?;
            match &vhost {
                None => vhost = Some(parsed.vhost),
                Some(first) if *first != parsed.vhost => {
                    return Err(Error::Config(format!(
                        "AMQP_URL entries name different vhosts ({first:?} and {:?}); \
                         list the nodes of one broker, all with the same vhost",
                        parsed.vhost
                    )));
                }
                Some(_) => {}
            }
        }
        if urls.is_empty() {
            return Err(Error::Config("AMQP_URL names no broker".into()));
        }
        Ok(Endpoints { urls, next: 0 })
    }

    pub fn urls(&self) -> &[SecretUrl] {
        &self.urls
    }

    pub fn url(&self, index: usize) -> &SecretUrl {
        &self.urls[index]
    }

    /// Indices of the addresses in the order to try them: each once,
    /// starting at the one after the last failure.
    pub fn order(&self) -> Vec<usize> {
        let n = self.urls.len();
        (0..n).map(|k| (self.next + k) % n).collect()
    }

    /// The address at `index` refused a connection, or its connection was
    /// lost: the next attempt starts at the address after it.
    pub fn failed(&mut self, index: usize) {
        self.next = (index + 1) % self.urls.len();
    }

    /// A connection to `index` was made: it is the one to try first again
    /// as long as nothing fails.
    pub fn connected(&mut self, index: usize) {
        self.next = index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(n: usize) -> Endpoints {
        let urls = (0..n).map(|i| format!("amqp://u:p@node{i}:5672/%2f").parse().unwrap()).collect();
        Endpoints::new(urls).unwrap()
    }

    fn order(e: &Endpoints) -> Vec<usize> {
        e.order()
    }

    #[test]
    fn the_first_connect_tries_each_address_in_the_given_order() {
        assert_eq!(order(&endpoints(3)), [0, 1, 2]);
        assert_eq!(order(&endpoints(1)), [0]);
    }

    #[test]
    fn a_reconnect_starts_after_the_node_that_was_lost() {
        let mut e = endpoints(3);
        e.connected(0);
        e.failed(0);
        assert_eq!(order(&e), [1, 2, 0]);
        // 1 refuses, 2 takes it; then 2 is lost: start over at 0.
        e.failed(1);
        e.connected(2);
        assert_eq!(order(&e), [2, 0, 1], "a working node stays first");
        e.failed(2);
        assert_eq!(order(&e), [0, 1, 2]);
    }

    #[test]
    fn a_round_where_every_node_refuses_starts_the_next_round_where_it_began() {
        let mut e = endpoints(3);
        e.failed(1);
        let round = order(&e);
        assert_eq!(round, [2, 0, 1]);
        for i in round {
            e.failed(i);
        }
        assert_eq!(order(&e), [2, 0, 1]);
    }

    #[test]
    fn a_single_address_is_always_the_one_tried() {
        let mut e = endpoints(1);
        e.failed(0);
        assert_eq!(order(&e), [0]);
    }

    #[test]
    fn refuses_lists_that_are_not_one_vhost_of_amqp_urls() {
        let parse = |urls: &[&str]| Endpoints::new(urls.iter().map(|u| u.parse().unwrap()).collect());
        assert!(parse(&[]).is_err());
        let mixed = parse(&["amqp://u:hunter2@a:5672/one", "amqp://u:hunter2@b:5672/two"]).unwrap_err();
        assert!(mixed.to_string().contains("different vhosts"), "{mixed}");
        assert!(!mixed.to_string().contains("hunter2"), "{mixed}");
        let not_amqp = parse(&["amqp://u:hunter2@a:5672/x", "redis://u:hunter2@b:6379"]).unwrap_err();
        assert!(!not_amqp.to_string().contains("hunter2"), "{not_amqp}");
        // The default vhost, spelled two ways, is one vhost.
        assert!(parse(&["amqp://u:p@a:5672/%2f", "amqp://u:p@b:5672"]).is_ok());
    }
}
