//! Every call here is one an integrator makes, against the live server.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::TryStreamExt;
use hmac::{Hmac, Mac};
use payrail_client::types::{
    BatchResponse, CaptureMode, CaptureRequest, CreateAccount, CreateEndpoint, CreatePayment, CreateRefund,
    ErrorCode, EventData, EventType, PaymentId, PaymentStatus, RefundStatus,
};
use payrail_client::{Client, Error, VerifyError, verify};
use reqwest::StatusCode;
use sha2::Sha256;

use crate::helpers::*;

#[tokio::test]
#[ignore = "needs a live payment-app: scripts/clients-test runs it"]
async fn accounts_with_and_without_an_initial_balance_by_scope() {
    let client = admin();
    let s = server();
    let pay_only = Client::new(&s.url, s.pay_token).unwrap();
    let metadata = serde_json::json!({"owner": "rust"});
    let body = CreateAccount {
        initial_balance: Some("100.00".into()),
        metadata: Some(metadata),
        ..Default::default()
    };
    let rich = client.create_account(&body, None).await.unwrap();
    assert_eq!(rich.balance.to_string(), "100.00");
    assert_eq!(rich.metadata.get("owner"), Some("rust"));
    let account = pay_only.create_account(&CreateAccount::default(), None).await.unwrap();
    assert_eq!(account.balance.to_string(), "0.00");
    assert_eq!(client.get_account(account.id).await.unwrap().id, account.id);
}

#[tokio::test]
#[ignore = "needs a live payment-app: scripts/clients-test runs it"]
async fn pay_wait_until_done_refund() {
    let client = admin();
    let (a, b) = (funded(&client, "100.00").await, empty(&client).await);
    let accepted = pay(&client, a, b, "30.00").await;
    assert_eq!(accepted.status, PaymentStatus::Pending);
    let done = client.wait_until_terminal(accepted.id, SETTLED).await.unwrap();
    assert_eq!(done.status, PaymentStatus::Done);
    assert_eq!(client.get_account(b).await.unwrap().balance.to_string(), "30.00");

    let body = CreateRefund { amount: Some("10.00".into()), reason: Some("damaged".into()) };
    let refund = client.create_refund(done.id, &body, None).await.unwrap();
    assert_eq!(
        client.wait_until_refund_terminal(refund.id, SETTLED).await.unwrap().status,
        RefundStatus::Done
    );
    assert_eq!(client.get_account(a).await.unwrap().balance.to_string(), "80.00");
    assert_eq!(client.get_payment(done.id).await.unwrap().amount_refunded.to_string(), "10.00");
}

#[tokio::test]
#[ignore = "needs a live payment-app: scripts/clients-test runs it"]
async fn hold_and_capture_part_of_it() {
    let client = admin();
    let (a, b) = (funded(&client, "100.00").await, empty(&client).await);
    let hold = CreatePayment { capture: Some("manual".into()), ..payment(a, b, "70.00") };
    let hold = client.create_payment(&hold, None).await.unwrap();
    assert_eq!(hold.capture, CaptureMode::Manual);
    client.wait_until(hold.id, SETTLED, &[PaymentStatus::Authorized]).await.unwrap();
    assert_eq!(client.get_account(a).await.unwrap().available_balance.to_string(), "30.00");
    client.capture_payment(hold.id, &CaptureRequest { amount: Some("25.00".into()) }).await.unwrap();
    let captured = client.wait_until_terminal(hold.id, SETTLED).await.unwrap();
    assert_eq!(
        (captured.status, captured.amount_captured.map(|m| m.to_string())),
        (PaymentStatus::Done, Some("25.00".into()))
    );
    let payer = client.get_account(a).await.unwrap();
    assert_eq!(
        (payer.balance.to_string(), payer.available_balance.to_string()),
        ("75.00".into(), "75.00".into())
    );
}

#[tokio::test]
#[ignore = "needs a live payment-app: scripts/clients-test runs it"]
async fn an_atomic_batch_settles_all_or_none() {
    let client = admin();
    let (a, merchant, fee) = (funded(&client, "100.00").await, empty(&client).await, empty(&client).await);
    let ids = |answer: BatchResponse| -> Vec<PaymentId> {
        answer.results.into_iter().map(|r| r.payment.expect("every item accepted").id).collect()
    };
    let batch = client
        .create_payment_batch(&[payment(a, merchant, "97.00"), payment(a, fee, "3.00")], true, None)
        .await
        .unwrap();
    for id in ids(batch) {
        assert_eq!(client.wait_until_terminal(id, SETTLED).await.unwrap().status, PaymentStatus::Done);
    }
    // Over the balance together: neither applies.
    let over = client
        .create_payment_batch(&[payment(merchant, fee, "90.00"), payment(merchant, fee, "90.00")], true, None)
        .await
        .unwrap();
    for id in ids(over) {
        assert_eq!(client.wait_until_terminal(id, SETTLED).await.unwrap().status, PaymentStatus::Failed);
    }
    assert_eq!(client.get_account(merchant).await.unwrap().balance.to_string(), "97.00");

    // An invalid item refuses the atomic batch whole, and says which item.
    let refused = client
        .create_payment_batch(&[payment(merchant, fee, "1.00"), payment(fee, fee, "1.00")], true, None)
        .await;
    match refused {
        Err(Error::Api { code: Some(ErrorCode::AtomicBatchRefused), refused_items, .. }) => {
            let item: Vec<_> =
                refused_items.iter().map(|r| (r.index, r.status, r.error.as_ref().map(|e| e.code))).collect();
            assert_eq!(item, [(1, 422, Some(ErrorCode::SameAccount))]);
        }
        other => panic!("expected atomic_batch_refused, got {other:?}"),
    }
    assert_eq!(client.get_account(merchant).await.unwrap().balance.to_string(), "97.00");
}

#[tokio::test]
#[ignore = "needs a live payment-app: scripts/clients-test runs it"]
async fn page_through_events_entries_and_filtered_lists() {
    let client = admin();
    let (a, b) = (funded(&client, "100.00").await, empty(&client).await);
    let order = uuid::Uuid::new_v4().to_string();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let body =
            CreatePayment { metadata: Some(serde_json::json!({"order": order})), ..payment(a, b, "1.00") };
        let p = client.create_payment(&body, None).await.unwrap();
        ids.push(client.wait_until_terminal(p.id, SETTLED).await.unwrap().id);
    }
    pay(&client, a, b, "1.00").await;

    // Newest first, one per page: three pages, nothing else.
    let filters = [
        ("account", a.to_string()),
        ("status", "done".to_owned()),
        ("metadata[order]", order.clone()),
        ("limit", "1".to_owned()),
    ];
    let listed: Vec<PaymentId> = client.payments(&filters).map_ok(|p| p.id).try_collect().await.unwrap();
    assert_eq!(listed, ids.iter().rev().copied().collect::<Vec<_>>());
    let two = [("currency", "USD".to_owned()), ("limit", "2".to_owned())];
    let accounts: Vec<_> = client.accounts(&two).map_ok(|acc| acc.id).try_collect().await.unwrap();
    assert!(accounts.contains(&a) && accounts.contains(&b));

    // A page per entry: the stream follows next_after.
    let one = [("limit", "1".to_owned())];
    let entries: Vec<_> = client.account_entries(a, &one).try_collect().await.unwrap();
    let shown: Vec<_> = entries.iter().map(|e| (e.kind.as_str(), e.balance_after.to_string())).collect();
    assert_eq!(shown[..2], [("issuance", "100.00".to_owned()), ("debit", "99.00".to_owned())]);

    // The feed, two at a time, in id order, holds each payment's created and done events.
    let events: Vec<_> = client.events(None, &[("limit", "2".to_owned())]).try_collect().await.unwrap();
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "events come in id order");
    for id in &ids {
        let kinds: Vec<EventType> = events
            .iter()
            .filter(|e| matches!(&e.data, EventData::Payment(p) if p.id == *id))
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, [EventType::PaymentCreated, EventType::PaymentDone]);
    }
}

#[tokio::test]
#[ignore = "needs a live payment-app: scripts/clients-test runs it"]
async fn a_payment_retried_after_a_dropped_connection_is_recorded_once() {
    let client = admin();
    let (a, b) = (funded(&client, "100.00").await, empty(&client).await);
    let proxy = DroppingProxy::start(&server().url, 1).await;
    let via_proxy = Client::new(&proxy.url, server().admin_token).unwrap();
    let payment = pay(&via_proxy, a, b, "5.00").await;
    assert_eq!(
        proxy.connections.load(Ordering::SeqCst),
        2,
        "the first answer was dropped and the request sent again"
    );
    let of_a: Vec<_> =
        client.payments(&[("account", a.to_string())]).map_ok(|p| p.id).try_collect().await.unwrap();
    assert_eq!(of_a, [payment.id]);
    assert_eq!(client.wait_until_terminal(payment.id, SETTLED).await.unwrap().status, PaymentStatus::Done);
    assert_eq!(client.get_account(a).await.unwrap().balance.to_string(), "95.00");
}

#[tokio::test]
#[ignore = "needs a live payment-app: scripts/clients-test runs it"]
async fn a_delivered_webhook_verifies_and_tampered_stale_or_wrongly_keyed_ones_do_not() {
    let client = admin();
    let mut hooks = Receiver::start().await;
    let body = CreateEndpoint {
        url: hooks.url.clone(),
        events: Some(vec!["payment.done".into()]),
        description: None,
    };
    let endpoint = client.create_webhook_endpoint(&body).await.unwrap();
    let (a, b) = (funded(&client, "100.00").await, empty(&client).await);
    let p = pay(&client, a, b, "2.00").await;
    let delivery = hooks.next_with(&p.id.to_string()).await;
    let five_minutes = Duration::from_secs(300);

    let event = verify(&delivery.body, &delivery.signature, &[&endpoint.secret], five_minutes).unwrap();
    assert_eq!(event.kind, EventType::PaymentDone);
    assert!(matches!(&event.data, EventData::Payment(paid) if paid.id == p.id));

    let tampered = String::from_utf8(delivery.body.to_vec()).unwrap().replace("\"2.00\"", "\"2000.00\"");
    assert_ne!(tampered.as_bytes(), &delivery.body[..]);
    let refused = verify(tampered.as_bytes(), &delivery.signature, &[&endpoint.secret], five_minutes);
    assert!(matches!(refused, Err(VerifyError::SignatureMismatch)), "{refused:?}");
    let wrong = format!("whsec_{}", "0".repeat(64));
    let refused = verify(&delivery.body, &delivery.signature, &[&wrong], five_minutes);
    assert!(matches!(refused, Err(VerifyError::SignatureMismatch)), "{refused:?}");
    // The same body, signed correctly ten minutes ago: a replay.
    let old = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 600;
    let mut mac = Hmac::<Sha256>::new_from_slice(endpoint.secret.as_bytes()).unwrap();
    mac.update(format!("{old}.").as_bytes());
    mac.update(&delivery.body);
    let stale = format!("t={old},v1={}", hex::encode(mac.finalize().into_bytes()));
    let refused = verify(&delivery.body, &stale, &[&endpoint.secret], five_minutes);
    assert!(matches!(refused, Err(VerifyError::StaleTimestamp { .. })), "{refused:?}");

    // During a rotation the server signs with both secrets: either verifies.
    let rotated = client.rotate_webhook_secret(endpoint.endpoint.id).await.unwrap();
    let p2 = pay(&client, a, b, "3.00").await;
    let second = hooks.next_with(&p2.id.to_string()).await;
    assert_eq!(second.signature.matches("v1=").count(), 2);
    verify(&second.body, &second.signature, &[&endpoint.secret], five_minutes).unwrap();
    verify(&second.body, &second.signature, &["whsec_unrelated", &rotated.secret], five_minutes).unwrap();

    let listed: Vec<_> =
        client.webhook_endpoints(&[("limit", "1".to_owned())]).map_ok(|e| e.id).try_collect().await.unwrap();
    assert!(listed.contains(&endpoint.endpoint.id));
    // An attempt is recorded once its answer is in: poll for ours.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let attempts: Vec<_> =
            client.delivery_attempts(endpoint.endpoint.id, &[]).try_collect().await.unwrap();
        let ours =
            attempts.iter().filter(|at| at.event_id == event.id && at.status_code == Some(200)).count();
        if ours == 1 || std::time::Instant::now() > deadline {
            assert_eq!(ours, 1, "the first delivery's attempt, answered 200");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.delete_webhook_endpoint(endpoint.endpoint.id).await.unwrap();
}

#[tokio::test]
#[ignore = "needs a live payment-app: scripts/clients-test runs it"]
async fn status_403_404_and_422_come_back_as_typed_errors() {
    let client = admin();
    let s = server();
    let pay_only = Client::new(&s.url, s.pay_token).unwrap();
    let check = |result: Result<_, Error>, status: u16, code: ErrorCode| match result {
        Err(Error::Api { status: got, code: Some(got_code), message, request_id, .. }) => {
            assert_eq!((got, got_code), (StatusCode::from_u16(status).unwrap(), code));
            assert!(!message.is_empty() && request_id.is_some());
        }
        other => panic!("expected {status} {code:?}, got {other:?}"),
    };
    let issue = CreateAccount { initial_balance: Some("5.00".into()), ..Default::default() };
    check(pay_only.create_account(&issue, None).await.map(drop), 403, ErrorCode::Forbidden);
    let unknown: PaymentId = "01930000-0000-7000-8000-0000000000aa".parse().unwrap();
    check(client.get_payment(unknown).await.map(drop), 404, ErrorCode::NotFound);
    let a = funded(&client, "10.00").await;
    check(client.create_payment(&payment(a, a, "1.00"), None).await.map(drop), 422, ErrorCode::SameAccount);
}

#[tokio::test]
#[ignore = "needs a live payment-app: scripts/clients-test runs it"]
async fn an_accounts_balance_at_an_instant_and_its_statement() {
    let client = admin();
    let (a, b) = (funded(&client, "100.00").await, empty(&client).await);
    let opened = client.get_account(a).await.unwrap().created_at;
    client.wait_until_terminal(pay(&client, a, b, "30.00").await.id, SETTLED).await.unwrap();
    let entries: Vec<_> = client.account_entries(a, &[]).try_collect().await.unwrap();

    assert_eq!(client.balance_at(a, chrono::Utc::now()).await.unwrap().balance.to_string(), "70.00");
    assert_eq!(client.balance_at(a, entries[0].created_at).await.unwrap().balance.to_string(), "100.00");
    let before = client.balance_at(a, opened - chrono::Duration::hours(1)).await;
    assert_eq!(before.map(drop).unwrap_err().code(), Some(ErrorCode::NotFound));

    // The statement's totals come from a refresh job (up to `as_of`): only
    // its shape and span are the client's to check here.
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(2);
    let statement = client.statement(b, Some(from), Some(today)).await.unwrap();
    assert_eq!((statement.account_id, statement.from, statement.to), (b, from, today));
}

#[tokio::test]
#[ignore = "needs a live payment-app: scripts/clients-test runs it"]
async fn an_accounts_own_payments_page_by_page_and_an_unknown_account_is_not_found() {
    let client = admin();
    let (a, b, c) = (funded(&client, "100.00").await, funded(&client, "100.00").await, empty(&client).await);
    let out = pay(&client, a, b, "1.00").await.id;
    pay(&client, b, c, "1.00").await;
    let into = pay(&client, b, a, "2.00").await.id;

    // Newest first, one per page, both directions, nothing of b → c.
    let listed: Vec<PaymentId> = client
        .account_payments(a, &[("limit", "1".to_owned())])
        .map_ok(|p| p.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, [into, out]);

    let unknown: payrail_client::types::AccountId = "01930000-0000-7000-8000-0000000000ab".parse().unwrap();
    let refused = client.account_payments(unknown, &[]).try_collect::<Vec<_>>().await;
    assert_eq!(refused.map(drop).unwrap_err().code(), Some(ErrorCode::NotFound));
}

#[tokio::test]
#[ignore = "needs a live payment-app: scripts/clients-test runs it"]
async fn a_keyed_create_sent_again_says_it_was_replayed_and_names_its_request() {
    let client = admin();
    let key = uuid::Uuid::new_v4().to_string();
    let body = CreateAccount { initial_balance: Some("10.00".into()), ..Default::default() };
    let first = client.create_account_with_meta(&body, Some(&key)).await.unwrap();
    assert_eq!((first.status, first.replayed), (StatusCode::CREATED, false));
    let again = client.create_account_with_meta(&body, Some(&key)).await.unwrap();
    assert_eq!((again.status, again.replayed, again.value.id), (StatusCode::CREATED, true, first.value.id));
    let a = first.value.id;

    let b = empty(&client).await;
    let key = uuid::Uuid::new_v4().to_string();
    let first = client.create_payment_with_meta(&payment(a, b, "4.00"), Some(&key)).await.unwrap();
    assert_eq!((first.status, first.replayed), (StatusCode::ACCEPTED, false));
    assert!(first.headers.contains_key("location"), "a new payment says where it is");
    let again = client.create_payment_with_meta(&payment(a, b, "4.00"), Some(&key)).await.unwrap();
    assert_eq!((again.replayed, again.value.id), (true, first.value.id));
    // Each answer names its own request.
    let (one, two) = (first.request_id.unwrap(), again.request_id.unwrap());
    assert!(!one.is_empty() && one != two, "{one} {two}");
    client.wait_until_terminal(first.value.id, SETTLED).await.unwrap();
    assert_eq!(client.get_account(a).await.unwrap().balance.to_string(), "6.00", "paid once");

    let key = uuid::Uuid::new_v4().to_string();
    let part = CreateRefund { amount: Some("1.00".into()), reason: None };
    let refund = client.create_refund_with_meta(first.value.id, &part, Some(&key)).await.unwrap();
    let again = client.create_refund_with_meta(first.value.id, &part, Some(&key)).await.unwrap();
    assert_eq!((refund.replayed, again.replayed, again.value.id), (false, true, refund.value.id));
}
