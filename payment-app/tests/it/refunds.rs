//! Refunds through the real pipeline: recorded under the payment's row
//! lock, applied by settle from the payee back to the payer, never more in
//! all than the payment moved, also when requested all at once.

use std::time::Duration;

use futures_util::future::join_all;
use payrail_client::Error;
use payrail_client::types::{
    CreatePayment, CreateRefund, ErrorCode, FailureReason, PaymentId, PaymentStatus, RefundId, RefundStatus,
    RefundView,
};
use serde_json::json;

use crate::common::{App, TestEnv, payment};

const WITHIN: Duration = Duration::from_secs(60);

fn asking(amount: Option<&str>) -> CreateRefund {
    CreateRefund { amount: amount.map(str::to_owned), reason: None }
}

async fn refund(app: &App, payment: PaymentId, body: &CreateRefund) -> Result<RefundView, Error> {
    app.api.create_refund(payment, body, None).await
}

/// The status and code of an answer expected to be an error.
fn refused<T: std::fmt::Debug>(answer: Result<T, Error>) -> (u16, ErrorCode) {
    match answer {
        Err(Error::Api { status, code: Some(code), .. }) => (status.as_u16(), code),
        other => panic!("expected an error answer, got {other:?}"),
    }
}

/// Polls until the refund is no longer `pending`.
async fn wait_refund(app: &App, refund: RefundId) -> RefundView {
    app.api
        .wait_until_refund_terminal(refund, WITHIN)
        .await
        .unwrap_or_else(|e| panic!("refund {refund}: {e}; log:\n{}", app.log_tail()))
}

async fn done_payment(app: &App, from: &str, to: &str, amount: &str) -> PaymentId {
    let accepted = app.api.create_payment(&payment(from, to, amount), None).await.unwrap();
    let done = app.api.wait_until_terminal(accepted.id, WITHIN).await.unwrap();
    assert_eq!(done.status, PaymentStatus::Done, "{done:?}");
    done.id
}

#[tokio::test]
async fn refunds_move_money_back_until_the_payment_is_refunded() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b, c) = (app.account("100.00").await, app.account("0").await, app.account("0").await);
    let paid = done_payment(&app, &a, &b, "80.00").await;

    let damaged = CreateRefund { reason: Some("damaged in transit".into()), ..asking(Some("30.00")) };
    let first = refund(&app, paid, &damaged).await.unwrap();
    assert_eq!(
        (first.status, first.amount.to_string(), first.payment_id),
        (RefundStatus::Pending, "30.00".to_owned(), paid)
    );
    assert_eq!(first.reason.as_deref(), Some("damaged in transit"));
    assert_eq!(wait_refund(&app, first.id).await.status, RefundStatus::Done);
    assert_eq!((app.balance(&a).await, app.balance(&b).await), ("50.00".to_owned(), "50.00".to_owned()));
    assert_eq!(app.api.get_payment(paid).await.unwrap().amount_refunded.to_string(), "30.00");

    // More than is left is refused at once; no amount means all that is left.
    let over = refund(&app, paid, &asking(Some("50.01"))).await;
    assert_eq!(refused(over), (422, ErrorCode::RefundExceedsPayment));
    // An Idempotency-Key makes a retry answer the same refund.
    let all_left = asking(None);
    let keyed = || app.api.create_refund_with_meta(paid, &all_left, Some("refund-rest-1"));
    let rest = keyed().await.unwrap();
    assert_eq!((rest.status.as_u16(), rest.replayed), (202, false));
    let again = keyed().await.unwrap();
    assert_eq!((again.status.as_u16(), again.replayed), (202, true));
    assert_eq!((again.value.id, again.value.amount.to_string()), (rest.value.id, "50.00".to_owned()));
    let rest = rest.value.id;
    assert_eq!(wait_refund(&app, rest).await.status, RefundStatus::Done);
    assert_eq!(refused(refund(&app, paid, &asking(None)).await), (422, ErrorCode::RefundExceedsPayment));

    let list = app.api.list_refunds(paid).await.unwrap();
    let amounts: Vec<String> = list.refunds.iter().map(|r| r.amount.to_string()).collect();
    assert_eq!(amounts, ["30.00", "50.00"]);
    assert_eq!(app.api.get_payment(paid).await.unwrap().amount_refunded.to_string(), "80.00");
    assert_eq!((app.balance(&a).await, app.balance(&b).await), ("100.00".to_owned(), "0.00".to_owned()));

    // The payee spent it: the refund is accepted, then fails.
    let second = done_payment(&app, &a, &b, "10.00").await;
    done_payment(&app, &b, &c, "10.00").await;
    let accepted = refund(&app, second, &asking(Some("1.00"))).await.unwrap();
    let failed = wait_refund(&app, accepted.id).await;
    assert_eq!(
        (failed.status, failed.failure_reason),
        (RefundStatus::Failed, Some(FailureReason::InsufficientFunds))
    );
    // A failed refund does not count: once the payee has it again, it goes through.
    done_payment(&app, &c, &b, "10.00").await;
    let accepted = refund(&app, second, &asking(None)).await.unwrap();
    assert_eq!(wait_refund(&app, accepted.id).await.amount.to_string(), "10.00");

    let pg = env.pg().await;
    let events: Vec<String> =
        sqlx::query_scalar("SELECT type FROM events WHERE type LIKE 'refund.%' ORDER BY id")
            .fetch_all(&pg)
            .await
            .unwrap();
    assert_eq!(events, ["refund.done", "refund.done", "refund.failed", "refund.done"]);
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn only_done_payments_are_refunded_and_bad_refunds_record_nothing() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("5.00").await, app.account("0").await);

    let failed = app.api.create_payment(&payment(&a, &b, "6.00"), None).await.unwrap().id;
    app.api.wait_until_terminal(failed, WITHIN).await.unwrap();
    let manual = CreatePayment { capture: Some("manual".into()), ..payment(&a, &b, "1") };
    let held = app.api.create_payment(&manual, None).await.unwrap().id;
    app.api.wait_until(held, WITHIN, &[PaymentStatus::Authorized]).await.unwrap();
    for payment in [failed, held] {
        assert_eq!(refused(refund(&app, payment, &asking(None)).await), (409, ErrorCode::InvalidState));
    }
    let unknown: PaymentId = uuid::Uuid::now_v7().to_string().parse().unwrap();
    assert_eq!(refused(refund(&app, unknown, &asking(None)).await), (404, ErrorCode::NotFound));
    let unknown: RefundId = uuid::Uuid::now_v7().to_string().parse().unwrap();
    assert_eq!(refused(app.api.get_refund(unknown).await), (404, ErrorCode::NotFound));

    let paid = done_payment(&app, &a, &b, "1.00").await;
    for (body, code) in [
        (asking(Some("0")), ErrorCode::InvalidAmount),
        (asking(Some("0.001")), ErrorCode::InvalidAmount),
        (asking(Some("-1")), ErrorCode::InvalidAmount),
        (CreateRefund { reason: Some("x".repeat(501)), amount: None }, ErrorCode::InvalidBody),
        (asking(Some("1.01")), ErrorCode::RefundExceedsPayment),
    ] {
        assert_eq!(refused(refund(&app, paid, &body).await), (422, code), "{body:?}");
    }
    let refunds: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refunds").fetch_one(&env.pg().await).await.unwrap();
    assert_eq!(refunds, 0);
}

/// 200 partial refunds of 0.75 of one 100.00 payment at once (150.00 in
/// all): 133 are accepted (99.75), the rest refused at the request, and
/// exactly what was accepted goes back to the payer.
#[tokio::test]
async fn concurrent_partial_refunds_never_pass_the_payment() {
    let env = TestEnv::new();
    // 200 requests at once from one address open up to 200 connections;
    // the default per-client cap (128) would close the rest as accepted.
    // This test is about the refund limit under a race, not that cap.
    let app = App::start(&env, &[("HTTP_MAX_CONNECTIONS_PER_CLIENT", "256")]).await;
    let (a, b) = (app.account("100.00").await, app.account("0").await);
    let paid = done_payment(&app, &a, &b, "100.00").await;

    let body = asking(Some("0.75"));
    let answers = join_all((0..200).map(|_| refund(&app, paid, &body))).await;
    let mut accepted = Vec::new();
    for answer in answers {
        match answer {
            Ok(refund) => accepted.push(refund.id),
            refusal => assert_eq!(refused(refusal), (422, ErrorCode::RefundExceedsPayment)),
        }
    }
    assert_eq!(accepted.len(), 133);
    for refund in accepted {
        assert_eq!(wait_refund(&app, refund).await.status, RefundStatus::Done);
    }
    assert_eq!(app.api.get_payment(paid).await.unwrap().amount_refunded.to_string(), "99.75");
    assert_eq!((app.balance(&a).await, app.balance(&b).await), ("99.75".to_owned(), "0.25".to_owned()));
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

/// Settle checks the limit again: refunds that reach the ledger past the
/// API's check (written straight into the table here) fail with
/// `refund_exceeds_payment` once the payment is used up, and a duplicate
/// message moves nothing twice.
#[tokio::test]
async fn settle_enforces_the_limit_again_and_applies_each_refund_once() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    let paid = done_payment(&app, &a, &b, "10.00").await;

    let pg = env.pg().await;
    let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    for refund in &ids {
        sqlx::query("INSERT INTO refunds (id, payment_id, amount) VALUES ($1::uuid, $2::uuid, 600)")
            .bind(refund)
            .bind(paid.to_string())
            .execute(&pg)
            .await
            .unwrap();
    }
    let publisher = crate::common::publisher(&env).await;
    let message = json!({"payments": [{"payment_id": paid, "from_account": a, "to_account": b}]});
    for _ in 0..3 {
        publisher.publish(payment_app::broker::LOCK_QUEUE, &message).await.unwrap();
    }
    let mut ends = Vec::new();
    for refund in &ids {
        let refund = wait_refund(&app, refund.parse().unwrap()).await;
        ends.push((refund.status, refund.failure_reason));
    }
    assert_eq!(ends[0], (RefundStatus::Done, None));
    for end in &ends[1..] {
        assert_eq!(end, &(RefundStatus::Failed, Some(FailureReason::RefundExceedsPayment)));
    }
    assert_eq!((app.balance(&a).await, app.balance(&b).await), ("6.00".to_owned(), "4.00".to_owned()));
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}
