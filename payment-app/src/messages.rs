//! The messages payments travel in between the API and the ledger, as JSON
//! on the broker's queues: what the lock queue carries ([`LockMessage`]) and
//! what the settle queue carries ([`SettleBatch`]).
//!
//! They name payments and the accounts to lock, never amounts or balances:
//! settle reads every payment from the database, the authority, so a
//! message that is stale, duplicated or crafted can delay a payment but
//! never change what it does.
//!
//! Each payment may also carry its own trace context ([`TraceParent`]),
//! so that every stage's span for it joins the payment's trace.

mod trace;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{AccountId, LinkId, LockToken, PaymentId};

pub use trace::{TraceId, TraceParent};

/// A payment as the queues carry it: which payment, and the two accounts
/// the lock worker locks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRoute {
    pub payment_id: PaymentId,
    pub from_account: AccountId,
    pub to_account: AccountId,
    /// The payment's atomic batch, if any: a hint that keeps the set in one
    /// lock batch and one settle batch. Settle does not rely on it; it reads
    /// each payment's set from the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkId>,
}

impl PaymentRoute {
    pub fn accounts(&self) -> [AccountId; 2] {
        [self.from_account, self.to_account]
    }
}

/// A payment on its way to the lock worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRequest {
    #[serde(flatten)]
    pub route: PaymentRoute,
    /// Lock and settle this payment in a batch of its own: set when a batch
    /// it was in failed, so a payment that cannot be settled is isolated and
    /// reaches the dead-letter queue alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alone: bool,
    /// The span that last worked on this payment (absent when traces are
    /// off, and in messages from before traces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<TraceParent>,
}

impl LockRequest {
    pub fn new(route: PaymentRoute) -> Self {
        LockRequest { route, alone: false, traceparent: None }
    }

    /// The same payment, to be locked and settled in a batch of its own.
    pub fn alone(route: PaymentRoute) -> Self {
        LockRequest { route, alone: true, traceparent: None }
    }

    /// The same request, in the trace `traceparent` names.
    pub fn traced(self, traceparent: Option<TraceParent>) -> Self {
        LockRequest { traceparent, ..self }
    }
}

/// Payments accepted together, on their way to the lock worker as one
/// message: the broker's work (publish, confirm, delivery, ack) is per
/// message, so grouping divides it by the group's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockGroup {
    pub payments: Vec<LockRequest>,
}

impl LockGroup {
    pub fn of(routes: impl IntoIterator<Item = PaymentRoute>) -> Self {
        LockGroup { payments: routes.into_iter().map(LockRequest::new).collect() }
    }
}

/// What the lock queue carries: a group of payments, or one payment (a
/// payment isolated after its batch failed, a replayed dead letter, or a
/// message published before groups existed).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum LockMessage {
    Group(LockGroup),
    One(LockRequest),
}

impl LockMessage {
    pub fn into_requests(self) -> Vec<LockRequest> {
        match self {
            LockMessage::Group(group) => group.payments,
            LockMessage::One(request) => vec![request],
        }
    }
}

/// Payments whose accounts are locked under one token, on their way to
/// settle. Settle trusts only the ids and the token: it reads each
/// payment's accounts from the database, settles by them and releases the
/// lock on them (compare-and-delete on the token). The accounts here only
/// route a payment re-queued to the lock worker, for whom they are a
/// locking hint, never what settle decides by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleBatch {
    pub payments: Vec<PaymentRoute>,
    pub lock_token: LockToken,
    /// Each traced payment's context (the span that locked it), by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub traces: BTreeMap<PaymentId, TraceParent>,
}

impl SettleBatch {
    /// Every account the batch's lock covers.
    pub fn accounts(&self) -> Vec<AccountId> {
        self.payments.iter().flat_map(PaymentRoute::accounts).collect()
    }
}

/// Most bytes of a message body shown in a log line.
const EXCERPT_BYTES: usize = 256;

/// A message body as a log line may show it: at most its first
/// [`EXCERPT_BYTES`] bytes, control characters escaped, and its full length
/// when cut. A log must stay bounded and readable whatever a queue carries.
pub fn excerpt(body: &[u8]) -> String {
    let head = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES)]);
    let escaped: String = head.chars().flat_map(char::escape_debug).collect();
    if body.len() > EXCERPT_BYTES { format!("{escaped}… ({} bytes in all)", body.len()) } else { escaped }
}

/// Why a message body is not the message its queue carries.
#[derive(Debug, thiserror::Error)]
#[error("malformed message on queue {queue}")]
pub struct BadMessage {
    pub queue: String,
    #[source]
    pub source: serde_json::Error,
}

/// Parses a message body, naming the queue on failure.
pub fn parse<T: for<'de> Deserialize<'de>>(queue: &str, body: &[u8]) -> Result<T, BadMessage> {
    serde_json::from_slice(body).map_err(|source| BadMessage { queue: queue.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route() -> PaymentRoute {
        PaymentRoute {
            payment_id: PaymentId::new(),
            from_account: AccountId::new(),
            to_account: AccountId::new(),
            link: None,
        }
    }

    #[test]
    fn the_lock_queue_reads_groups_and_single_payments() {
        let (a, b) = (LockRequest::new(route()), LockRequest::alone(route()));
        let group = serde_json::to_vec(&LockGroup { payments: vec![a, b] }).expect("serializes");
        let parsed = parse::<LockMessage>("q", &group).expect("a group parses");
        assert_eq!(parsed.into_requests(), vec![a, b]);

        for single in [a, b] {
            let body = serde_json::to_vec(&single).expect("serializes");
            let parsed = parse::<LockMessage>("q", &body).expect("one payment parses");
            assert_eq!(parsed.into_requests(), vec![single]);
        }
    }

    /// Messages already queued when payrail is upgraded must still parse.
    #[test]
    fn the_wire_format_is_unchanged() {
        let r = route();
        let one = serde_json::json!({
            "payment_id": r.payment_id, "from_account": r.from_account, "to_account": r.to_account, "alone": true,
        });
        assert_eq!(serde_json::to_value(LockRequest::alone(r)).expect("serializes"), one);
        let settle = serde_json::json!({ "payments": [one], "lock_token": uuid::Uuid::new_v4() });
        let batch: SettleBatch = serde_json::from_value(settle).expect("an older settle batch parses");
        assert_eq!(batch.payments, vec![r]);
    }

    /// A payment's trace context rides with it through both queues, and
    /// is left out of the message when there is none.
    #[test]
    fn trace_context_travels_per_payment() {
        let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let (a, b) = (LockRequest::new(route()).traced(tp), LockRequest::new(route()));
        let body = serde_json::to_value(LockGroup { payments: vec![a, b] }).expect("serializes");
        assert_eq!(
            body["payments"][0]["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert!(body["payments"][1].get("traceparent").is_none(), "{body}");
        let parsed = parse::<LockMessage>("q", body.to_string().as_bytes()).expect("parses");
        assert_eq!(parsed.into_requests(), vec![a, b]);

        let lock_token: LockToken =
            serde_json::from_value(serde_json::json!(uuid::Uuid::now_v7())).expect("a token is a UUID");
        let traces = BTreeMap::from([(a.route.payment_id, tp.expect("parsed"))]);
        let batch = SettleBatch { payments: vec![a.route, b.route], lock_token, traces };
        let body = serde_json::to_vec(&batch).expect("serializes");
        assert_eq!(parse::<SettleBatch>("q", &body).expect("parses"), batch);
        let untraced = SettleBatch { traces: BTreeMap::new(), ..batch };
        let body = serde_json::to_value(&untraced).expect("serializes");
        assert!(body.get("traces").is_none(), "{body}");
    }

    #[test]
    fn the_lock_queue_refuses_what_is_not_a_lock_message() {
        let lock_token: LockToken =
            serde_json::from_value(serde_json::json!(uuid::Uuid::now_v7())).expect("a token is a UUID");
        let settle = SettleBatch { payments: vec![route()], lock_token, traces: BTreeMap::new() };
        let body = serde_json::to_vec(&settle).expect("serializes");
        assert!(parse::<LockMessage>("q", &body).is_err(), "a settle batch is not a lock group");
        for bad in [&b"{}"[..], b"[]", b"not json", br#"{"payments": [{"payment_id": 1}]}"#] {
            assert!(parse::<LockMessage>("q", bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn an_excerpt_is_bounded_and_escaped() {
        assert_eq!(excerpt(b"not json"), "not json");
        assert_eq!(excerpt(b"a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        let huge = vec![b'x'; 8 * 1024 * 1024];
        let shown = excerpt(&huge);
        assert!(shown.len() < 400, "{}", shown.len());
        assert!(shown.ends_with("(8388608 bytes in all)"), "{shown}");
    }
}
