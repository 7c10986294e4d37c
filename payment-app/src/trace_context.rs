//! The spans that make one trace per payment, when traces are on
//! (`payrail_common::traces`): which span is whose child, and which links
//! to which.
//!
//! ```text
//! request (HTTP; child of the client's `traceparent`, if sent)
//! └─ accept_payment (payment_id)
//!    ├─ intake.group  (its payments' first; links to every one)
//!    └─ payment.lock  (per attempt; the next attempt, after the retry
//!       │              queue, is a child of the one that parked it)
//!       └─ payment.settle (outcome)
//! lock.batch, settle.batch: a child of the first message's AMQP
//! `traceparent` header, linked to each payment of the batch
//! ```
//!
//! Messages carry groups of payments, so each payment carries its own
//! context in the message ([`TraceParent`]) besides the message's header.
//! With traces off every function here returns a disabled span or `None`:
//! no per-payment span is made and no message grows.

use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use tracing::Span;
use tracing::field::Empty;

use payrail_common::traces;

use crate::domain::PaymentId;
use crate::messages::TraceParent;

/// `span`'s context, for a message to carry to the next stage.
pub fn traceparent(span: &Span) -> Option<TraceParent> {
    TraceParent::parse(&traces::traceparent(span)?)
}

/// The current span's context.
pub fn current() -> Option<TraceParent> {
    traceparent(&Span::current())
}

/// A group insert at intake: in the trace of its first payment, linked to
/// each payment it records.
pub fn intake_group(payments: impl IntoIterator<Item = Option<TraceParent>>) -> Span {
    if !traces::enabled() {
        return Span::none();
    }
    let span = tracing::info_span!("intake.group", payments = Empty, trace_id = Empty);
    let mut count = 0;
    for tp in payments.into_iter().flatten() {
        if count == 0 {
            traces::set_parent(&span, &tp.to_string());
        }
        traces::add_link(&span, &tp.to_string());
        count += 1;
    }
    span.record("payments", count);
    traces::record_trace_id(&span);
    span
}

/// One lock attempt for one payment, a child of the span that handed the
/// payment on (intake, or the attempt that parked it in the retry queue).
/// `None` when traces are off.
pub fn lock_attempt(payment_id: PaymentId, parent: Option<TraceParent>) -> Option<Span> {
    traces::enabled().then(|| {
        let span = tracing::info_span!("payment.lock", payment_id = %payment_id, outcome = Empty, attempts = Empty, trace_id = Empty);
        in_payment_trace(span, parent)
    })
}

/// Settling one payment, a child of the lock attempt that granted it.
/// `None` when traces are off.
pub fn settle(payment_id: PaymentId, parent: Option<TraceParent>) -> Option<Span> {
    traces::enabled().then(|| {
        let span = tracing::info_span!("payment.settle", payment_id = %payment_id, outcome = Empty, trace_id = Empty);
        in_payment_trace(span, parent)
    })
}

fn in_payment_trace(span: Span, parent: Option<TraceParent>) -> Span {
    if let Some(tp) = parent {
        traces::set_parent(&span, &tp.to_string());
    }
    traces::record_trace_id(&span);
    span
}

/// The lock worker's handling of a chunk of messages: a child of the first
/// message's context. Link it to the payments with [`link_payments`].
pub fn lock_batch(first: Option<&Delivery>) -> Span {
    if !traces::enabled() {
        return Span::none();
    }
    batch(tracing::info_span!("lock.batch", trace_id = Empty), first)
}

/// The settle worker's transaction over a chunk of messages.
pub fn settle_batch(first: Option<&Delivery>) -> Span {
    if !traces::enabled() {
        return Span::none();
    }
    batch(tracing::info_span!("settle.batch", trace_id = Empty), first)
}

fn batch(span: Span, first: Option<&Delivery>) -> Span {
    if let Some(headers) = first.and_then(|d| d.properties.headers().as_ref()) {
        traces::set_parent_from(&span, |k| header(headers, k));
    }
    traces::record_trace_id(&span);
    span
}

/// Links `span` (a batch) to the trace of each payment in it.
pub fn link_payments(span: &Span, payments: impl IntoIterator<Item = Option<TraceParent>>) {
    if !traces::enabled() {
        return;
    }
    for tp in payments.into_iter().flatten() {
        traces::add_link(span, &tp.to_string());
    }
}

/// The current span's context as AMQP message headers.
pub fn amqp_headers() -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in traces::headers(&Span::current()) {
        table.insert(ShortString::from(k), AMQPValue::LongString(LongString::from(v)));
    }
    table
}

fn header(headers: &FieldTable, name: &str) -> Option<String> {
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}
