//! The OpenAPI document as a client gets it: served without a token, the
//! same as the committed `docs/openapi.json`; and what schemathesis
//! (`scripts/schemathesis`) found the API doing against it, each kept
//! fixed here.

use std::path::Path;
use std::time::Duration;

use crate::common::{App, TestEnv, client};

#[tokio::test]
async fn the_document_is_served_without_a_token_and_is_the_committed_one() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let response = client(None).get(format!("{}/api/v1/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-request-id"), "served under the usual middleware");
    let served = response.text().await.unwrap();
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")).unwrap();
    assert_eq!(served, committed);
    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

/// schemathesis: the document says a body that is optional may be JSON
/// `null`, and the API answered 422 `invalid_body` to it. `null` is how
/// JSON says "none": it now stands for the empty body.
#[tokio::test]
async fn an_optional_body_may_be_json_null() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let post_null = |path: String| {
        app.http
            .post(format!("{}{path}", app.base))
            .header("content-type", "application/json")
            .body("null")
            .send()
    };
    let opened = post_null("/api/v1/accounts".to_owned()).await.unwrap();
    assert_eq!(opened.status(), 201);
    let account: serde_json::Value = opened.json().await.unwrap();
    assert_eq!((account["balance"].as_str(), account["currency"].as_str()), (Some("0.00"), Some("USD")));

    let payer = app.account("10.00").await;
    let (_, paid) = app.pay(&payer, account["id"].as_str().unwrap(), "4.00").await;
    let payment = paid["id"].as_str().unwrap().to_owned();
    app.wait_terminal(std::slice::from_ref(&payment), Duration::from_secs(30)).await;
    let refunded = post_null(format!("/api/v1/payment/{payment}/refunds")).await.unwrap();
    assert_eq!(refunded.status(), 202, "all that is left is refunded");
    let refund: serde_json::Value = refunded.json().await.unwrap();
    assert_eq!(refund["amount"], "4.00");
    // A capture of a payment that is not authorized is refused for that,
    // not for its body.
    let captured = post_null(format!("/api/v1/payment/{payment}/capture")).await.unwrap();
    assert_eq!(captured.status(), 409);
    let refusal: serde_json::Value = captured.json().await.unwrap();
    assert_eq!(refusal["error"]["code"], "invalid_state", "{refusal}");
}
