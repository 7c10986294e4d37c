//! How many messages a queue holds and how many consumers read it: what
//! the console's system page shows of the broker.

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

use super::{Broker, is_not_found};
use crate::error::Result;

/// A queue as the broker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    /// Messages ready for delivery (not those delivered and unacked).
    pub messages: u32,
    pub consumers: u32,
}

impl Broker {
    /// `queue`'s depth by a passive declare on a channel of its own;
    /// `None` when the queue does not exist.
    pub async fn queue_depth(&self, queue: &str) -> Result<Option<QueueDepth>> {
        let conn = self.connection().await?;
        let channel = conn.create_channel().await?;
        let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        match channel.queue_declare(queue.into(), passive, FieldTable::default()).await {
            Ok(q) => {
                let _ = channel.close(200, "checked".into()).await;
                Ok(Some(QueueDepth { messages: q.message_count(), consumers: q.consumer_count() }))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
