//! The operator's API clients, two of them because a watch and a call
//! need opposite read timeouts.
//!
//! A call (a get, an apply, a status write, an event) is answered within
//! the API server's own request timeout (60 s by default). Without a read
//! timeout, a call on a connection that died silently (a node or a load
//! balancer dropping packets) waits forever, and so does the reconcile that
//! made it: that cluster is never reconciled again, and no error says why.
//! kube-rs leaves `read_timeout` unset since 2.x (kube-rs PR 1945: its old
//! 295 s default broke exec and attach sessions), so it is set here.
//!
//! A watch, on the other hand, is one response that stays quiet for as
//! long as nothing changes, up to its `timeoutSeconds` (290 s from
//! kube-runtime's watcher). A read timeout shorter than that would cut
//! every quiet watch, and each cut means a re-watch and a backoff for all
//! the objects behind it. The watcher guards its own stream instead, with
//! an idle timeout of `timeoutSeconds` plus a margin, so the watch client
//! has no read timeout. Both clients fail a connect or a stalled send
//! quickly.

use std::time::Duration;

use kube::{Client, Config};

use crate::error::Result;

/// How long a call may wait to connect, to send, or for each next part of
/// its answer, in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub call: Duration,
}

impl Timeouts {
    /// Well inside the API server's own 60 s request timeout for a call,
    /// so a hung connection is given up while a slow answer still arrives.
    pub const OPERATOR: Timeouts =
        Timeouts { connect: Duration::from_secs(10), call: Duration::from_secs(30) };
}

/// The client of watches and the client of every other call.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // kube's Client has no Debug.
pub struct Clients {
    /// For the controller's watches and reflectors: no read timeout.
    pub watches: Client,
    /// For everything a reconcile does.
    pub calls: Client,
}

impl Clients {
    pub fn new(config: Config, timeouts: Timeouts) -> Result<Self> {
        Ok(Clients {
            watches: Client::try_from(watch_config(config.clone(), timeouts))?,
            calls: Client::try_from(call_config(config, timeouts))?,
        })
    }

    /// From the in-cluster configuration or KUBECONFIG.
    pub async fn infer() -> Result<Self> {
        Self::new(Config::infer().await?, Timeouts::OPERATOR)
    }
}

fn watch_config(mut config: Config, timeouts: Timeouts) -> Config {
    config.connect_timeout = Some(timeouts.connect);
    config.write_timeout = Some(timeouts.call);
    // The watcher's idle timeout is the watch's read timeout.
    config.read_timeout = None;
    config
}

fn call_config(mut config: Config, timeouts: Timeouts) -> Config {
    config.connect_timeout = Some(timeouts.connect);
    config.write_timeout = Some(timeouts.call);
    config.read_timeout = Some(timeouts.call);
    // Counted from the request, not from when a pooled connection went
    // idle (up to 90 s before it was handed out again).
    config.reset_reader_on_write = true;
    config
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::Api;
    use kube::api::WatchParams;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    const SHORT: Timeouts = Timeouts { connect: Duration::from_secs(1), call: Duration::from_secs(1) };

    /// An "API server" that reads each request and then answers with
    /// `head` (if any) and nothing more: a connection that died silently,
    /// or a watch on which nothing changes.
    async fn silent_server(head: Option<&'static str>) -> Config {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    if let Some(head) = head {
                        socket.write_all(head.as_bytes()).await.unwrap();
                    }
                    // Held open, silent, until the client goes.
                    let _ = socket.read(&mut request).await;
                });
            }
        });
        Config::new(url.parse().unwrap())
    }

    // Issue 25, item 11: a call on a connection that stopped answering
    // hung its reconcile for good (no read timeout); it now fails, and
    // the reconcile retries with backoff.
    #[tokio::test]
    async fn a_call_that_gets_no_answer_fails_instead_of_hanging() {
        let clients = Clients::new(silent_server(None).await, SHORT).unwrap();
        let api: Api<ConfigMap> = Api::namespaced(clients.calls, "payrail");
        let outcome = tokio::time::timeout(Duration::from_secs(10), api.get("anything")).await;
        let error = outcome.expect("the call gave up by itself").expect_err("nothing answered");
        assert!(format!("{error:?}").contains("TimedOut"), "{error:?}");
    }

    // ... while a watch on which nothing changes stays open past the
    // calls' timeout: the watcher's own idle timeout guards it.
    #[tokio::test]
    async fn a_quiet_watch_outlives_the_call_timeout() {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        let clients = Clients::new(silent_server(Some(head)).await, SHORT).unwrap();
        let api: Api<ConfigMap> = Api::namespaced(clients.watches, "payrail");
        let mut events = api.watch(&WatchParams::default(), "0").await.expect("the watch opens").boxed();
        let quiet = tokio::time::timeout(SHORT.call * 3, events.next()).await;
        assert!(quiet.is_err(), "the quiet watch ended: {:?}", quiet.map(|e| e.map(|e| e.map(|_| ()))));

        // The calls' client would have cut it: the test can tell.
        let api: Api<ConfigMap> = Api::namespaced(clients.calls, "payrail");
        let mut events = api.watch(&WatchParams::default(), "0").await.expect("the watch opens").boxed();
        let cut = tokio::time::timeout(SHORT.call * 3, events.next()).await.expect("cut within the timeout");
        assert!(matches!(cut, Some(Err(_))), "{:?}", cut.map(|e| e.map(|_| ())));
    }
}
