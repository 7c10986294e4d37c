//! [`Client`]: one method per API call, each a request built from the
//! shared types and sent through the retry rule of `retry.rs`.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::Stream;
use payrail_types::{
    AccountId, AccountPage, AccountView, AttemptPage, AttemptView, BalanceAt, BatchRequest, BatchResponse,
    CaptureRequest, CreateAccount, CreateEndpoint, CreatePayment, CreateRefund, CreatedEndpoint, EndpointId,
    EndpointPage, EndpointView, EntryPage, EntryView, Event, EventId, EventPage, LedgerHead, PaymentId,
    PaymentPage, PaymentStatus, PaymentView, RefundId, RefundList, RefundStatus, RefundView, RotatedSecret,
    Statement, UpdateAccount, UpdateMetadata,
};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::paging::pages;
use crate::response::Response;
use crate::retry::{self, Outcome, RetryPolicy};
use crate::{Error, Result};

/// Statuses a payment never leaves (docs/api.md, "Holds, captures and refunds").
pub const TERMINAL_PAYMENT_STATUSES: [PaymentStatus; 4] =
    [PaymentStatus::Done, PaymentStatus::Failed, PaymentStatus::Voided, PaymentStatus::Expired];

/// A connection to one payrail API with one token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    policy: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// One request as it is sent on every attempt.
struct Call<'a> {
    method: Method,
    path: String,
    query: Vec<(&'a str, String)>,
    body: Option<Value>,
    key: Option<String>,
    /// Whether a second copy records nothing new (see `retry.rs`).
    replay_safe: bool,
}

impl<'a> Call<'a> {
    fn get(path: String) -> Self {
        Call { method: Method::GET, path, query: Vec::new(), body: None, key: None, replay_safe: true }
    }

    fn with_query(mut self, query: Vec<(&'a str, String)>) -> Self {
        self.query = query;
        self
    }

    fn send_json(method: Method, path: String, body: &impl Serialize, replay_safe: bool) -> Result<Self> {
        Ok(Call {
            method,
            path,
            query: Vec::new(),
            body: Some(serde_json::to_value(body)?),
            key: None,
            replay_safe,
        })
    }

    /// A create carrying its `Idempotency-Key` (made here unless given): safe to send again.
    fn keyed(mut self, key: Option<&str>) -> Self {
        self.key = Some(key.map_or_else(new_key, str::to_owned));
        self.replay_safe = true;
        self
    }
}

fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Client {
    /// `base_url` is where the API is (e.g. `http://127.0.0.1:8080`, no
    /// `/api/v1`), `token` one of its `API_TOKENS`.
    pub fn new(base_url: &str, token: impl Into<String>) -> Result<Self> {
        Client::with_policy(base_url, token, RetryPolicy::default())
    }

    pub fn with_policy(base_url: &str, token: impl Into<String>, policy: RetryPolicy) -> Result<Self> {
        let http = reqwest::Client::builder().timeout(policy.timeout).build()?;
        Ok(Client {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            token: SecretString::from(token.into()),
            policy,
        })
    }

    /// Sends `call` under the retry rule; the answer's status, headers and
    /// body on a success.
    async fn send(
        &self,
        call: &Call<'_>,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>)> {
        let url = format!("{}/api/v1{}", self.base, call.path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(call.method.clone(), &url)
                .bearer_auth(self.token.expose_secret())
                .query(&call.query);
            if let Some(key) = &call.key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            let (outcome, failure) = match request.send().await {
                Ok(answer) => {
                    let status = answer.status();
                    let headers = answer.headers().clone();
                    let body = match answer.bytes().await {
                        Ok(body) => body,
                        Err(e) => {
                            let outcome = retry::of_transport(&e);
                            match self.policy.next(attempt, outcome, call.replay_safe) {
                                Some(wait) => {
                                    tokio::time::sleep(wait).await;
                                    continue;
                                }
                                None => return Err(e.into()),
                            }
                        }
                    };
                    if status.is_success() {
                        return Ok((status, headers, body.to_vec()));
                    }
                    let error = crate::error::from_answer(status, &headers, &body);
                    let (code, retry_after) = match &error {
                        Error::Api { code, retry_after, .. } => (*code, *retry_after),
                        _ => (None, None),
                    };
                    (retry::of_answer(status, code, retry_after), error)
                }
                Err(e) => (retry::of_transport(&e), Error::Transport(e)),
            };
            match (outcome, self.policy.next(attempt, outcome, call.replay_safe)) {
                (Outcome::Answered, _) | (_, None) => return Err(failure),
                (_, Some(wait)) => tokio::time::sleep(wait).await,
            }
        }
    }

    async fn json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T> {
        Ok(self.json_with_meta(call).await?.value)
    }

    async fn json_with_meta<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<Response<T>> {
        let (status, headers, body) = self.send(&call).await?;
        Ok(Response::new(serde_json::from_slice(&body)?, status, headers))
    }

    // Accounts

    /// Opens an account (`initial_balance` above zero takes the `issue` scope).
    pub async fn create_account(
        &self,
        body: &CreateAccount,
        idempotency_key: Option<&str>,
    ) -> Result<AccountView> {
        self.create_account_with_meta(body, idempotency_key).await.map(Response::into_value)
    }

    /// [`Client::create_account`] with the answer's headers: `replayed` when
    /// `idempotency_key` opened an account before (the body is that one).
    pub async fn create_account_with_meta(
        &self,
        body: &CreateAccount,
        idempotency_key: Option<&str>,
    ) -> Result<Response<AccountView>> {
        let call = Call::send_json(Method::POST, "/accounts".into(), body, false)?;
        self.json_with_meta(call.keyed(idempotency_key)).await
    }

    pub async fn get_account(&self, id: AccountId) -> Result<AccountView> {
        self.json(Call::get(format!("/accounts/{id}"))).await
    }

    /// A metadata change, a new credit limit, or both.
    pub async fn update_account(&self, id: AccountId, body: &UpdateAccount) -> Result<AccountView> {
        self.json(Call::send_json(Method::PATCH, format!("/accounts/{id}"), body, true)?).await
    }

    /// The account's balance at `at`; a 404 when it was opened after it.
    pub async fn balance_at(&self, id: AccountId, at: DateTime<Utc>) -> Result<BalanceAt> {
        self.json(Call::get(format!("/accounts/{id}/balance")).with_query(vec![("at", at.to_rfc3339())]))
            .await
    }

    /// Per-day totals and closing balances (UTC days; the API's default is the last 30).
    pub async fn statement(
        &self,
        id: AccountId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Statement> {
        let mut query = Vec::new();
        query.extend(from.map(|d| ("from", d.to_string())));
        query.extend(to.map(|d| ("to", d.to_string())));
        self.json(Call::get(format!("/accounts/{id}/statement")).with_query(query)).await
    }

    // Payments

    /// `POST /api/v1/payment`: the payment as recorded, `pending`.
    pub async fn create_payment(
        &self,
        body: &CreatePayment,
        idempotency_key: Option<&str>,
    ) -> Result<PaymentView> {
        self.create_payment_with_meta(body, idempotency_key).await.map(Response::into_value)
    }

    /// [`Client::create_payment`] with the answer's headers: `replayed` when
    /// `idempotency_key` was used before (the body is what that request
    /// recorded, as it was then).
    pub async fn create_payment_with_meta(
        &self,
        body: &CreatePayment,
        idempotency_key: Option<&str>,
    ) -> Result<Response<PaymentView>> {
        let call = Call::send_json(Method::POST, "/payment".into(), body, false)?;
        self.json_with_meta(call.keyed(idempotency_key)).await
    }

    pub async fn get_payment(&self, id: PaymentId) -> Result<PaymentView> {
        self.json(Call::get(format!("/payment/{id}"))).await
    }

    pub async fn update_payment_metadata(&self, id: PaymentId, body: &UpdateMetadata) -> Result<PaymentView> {
        self.json(Call::send_json(Method::PATCH, format!("/payment/{id}"), body, true)?).await
    }

    /// `POST /api/v1/payments/batch`. Items without an `idempotency_key`
    /// get one (`<batch key>-<index>`), so a retry of the whole batch
    /// replays what was recorded instead of recording it again. An atomic
    /// batch with an invalid item is refused whole: `Error::Api` with
    /// `atomic_batch_refused` and the refused items in `refused_items`.
    pub async fn create_payment_batch(
        &self,
        items: &[CreatePayment],
        atomic: bool,
        idempotency_key: Option<&str>,
    ) -> Result<BatchResponse> {
        let key = idempotency_key.map_or_else(new_key, str::to_owned);
        let payments = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let mut value = serde_json::to_value(item)?;
                value["idempotency_key"] = Value::String(format!("{key}-{i}"));
                Ok(value)
            })
            .collect::<Result<Vec<_>>>()?;
        let body = BatchRequest { payments, atomic };
        self.json(Call::send_json(Method::POST, "/payments/batch".into(), &body, true)?).await
    }

    /// Captures an authorized payment, all of it or `amount`. Not keyed by
    /// the API: sent again only where nothing was recorded.
    pub async fn capture_payment(&self, id: PaymentId, body: &CaptureRequest) -> Result<PaymentView> {
        self.json(Call::send_json(Method::POST, format!("/payment/{id}/capture"), body, false)?).await
    }

    pub async fn void_payment(&self, id: PaymentId) -> Result<PaymentView> {
        self.json(Call { method: Method::POST, ..Call::get(format!("/payment/{id}/void")) }.not_replay_safe())
            .await
    }

    // Refunds

    pub async fn create_refund(
        &self,
        payment_id: PaymentId,
        body: &CreateRefund,
        idempotency_key: Option<&str>,
    ) -> Result<RefundView> {
        self.create_refund_with_meta(payment_id, body, idempotency_key).await.map(Response::into_value)
    }

    /// [`Client::create_refund`] with the answer's headers: `replayed` when
    /// `idempotency_key` asked for a refund before (the body is that one).
    pub async fn create_refund_with_meta(
        &self,
        payment_id: PaymentId,
        body: &CreateRefund,
        idempotency_key: Option<&str>,
    ) -> Result<Response<RefundView>> {
        let call = Call::send_json(Method::POST, format!("/payment/{payment_id}/refunds"), body, false)?;
        self.json_with_meta(call.keyed(idempotency_key)).await
    }

    /// Every refund of the payment, oldest first.
    pub async fn list_refunds(&self, payment_id: PaymentId) -> Result<RefundList> {
        self.json(Call::get(format!("/payment/{payment_id}/refunds"))).await
    }

    pub async fn get_refund(&self, id: RefundId) -> Result<RefundView> {
        self.json(Call::get(format!("/refunds/{id}"))).await
    }

    // Events, webhooks, the ledger

    pub async fn get_event(&self, id: EventId) -> Result<Event> {
        self.json(Call::get(format!("/events/{id}"))).await
    }

    /// The head of the hash chain over the ledger; 404 before an audit chained it.
    pub async fn ledger_head(&self) -> Result<LedgerHead> {
        self.json(Call::get("/ledger/head".into())).await
    }

    pub async fn create_webhook_endpoint(&self, body: &CreateEndpoint) -> Result<CreatedEndpoint> {
        self.json(Call::send_json(Method::POST, "/webhook-endpoints".into(), body, false)?).await
    }

    pub async fn rotate_webhook_secret(&self, id: EndpointId) -> Result<RotatedSecret> {
        let call =
            Call { method: Method::POST, ..Call::get(format!("/webhook-endpoints/{id}/rotate-secret")) };
        self.json(call.not_replay_safe()).await
    }

    pub async fn delete_webhook_endpoint(&self, id: EndpointId) -> Result<()> {
        self.send(&Call { method: Method::DELETE, ..Call::get(format!("/webhook-endpoints/{id}")) })
            .await
            .map(drop)
    }

    // Lists, as streams over every page

    /// Every payment that passes `filters` (`account`, `status`,
    /// `created_gte`, `created_lt`, `metadata[KEY]`, `limit`), newest first.
    pub fn payments<'a>(
        &'a self,
        filters: &'a [(&'a str, String)],
    ) -> impl Stream<Item = Result<PaymentView>> + 'a {
        self.listed("/payments".into(), filters, "cursor", |p: PaymentPage| (p.payments, p.next_cursor))
    }

    /// Every payment from or to the account (`limit` in `filters`), newest
    /// first. Unlike `payments` with an `account` filter, an unknown account
    /// is an error (`not_found`), not an empty list.
    pub fn account_payments<'a>(
        &'a self,
        id: AccountId,
        filters: &'a [(&'a str, String)],
    ) -> impl Stream<Item = Result<PaymentView>> + 'a {
        self.listed(format!("/accounts/{id}/payments"), filters, "cursor", |p: PaymentPage| {
            (p.payments, p.next_cursor)
        })
    }

    /// Every account that passes `filters` (`currency`, `metadata[KEY]`, `limit`), newest first.
    pub fn accounts<'a>(
        &'a self,
        filters: &'a [(&'a str, String)],
    ) -> impl Stream<Item = Result<AccountView>> + 'a {
        self.listed("/accounts".into(), filters, "cursor", |p: AccountPage| (p.accounts, p.next_cursor))
    }

    /// The account's ledger entries with the balance after each (`order`,
    /// `limit` in `filters`), page after page on the entry id.
    pub fn account_entries<'a>(
        &'a self,
        id: AccountId,
        filters: &'a [(&'a str, String)],
    ) -> impl Stream<Item = Result<EntryView>> + 'a {
        self.listed(format!("/accounts/{id}/entries"), filters, "after", |p: EntryPage| {
            (p.entries, p.next_after)
        })
    }

    /// The events feed in id order after `after` (from the first without
    /// it), until a page comes back empty: the feed's present end.
    pub fn events<'a>(
        &'a self,
        after: Option<EventId>,
        filters: &'a [(&'a str, String)],
    ) -> impl Stream<Item = Result<Event>> + 'a {
        pages(move |cursor: Option<EventId>| {
            let mut query = filters.to_vec();
            query.extend(cursor.or(after).map(|c| ("after", c.to_string())));
            async move {
                let page: EventPage = self.json(Call::get("/events".into()).with_query(query)).await?;
                Ok((page.events, page.next_after))
            }
        })
    }

    pub fn webhook_endpoints<'a>(
        &'a self,
        filters: &'a [(&'a str, String)],
    ) -> impl Stream<Item = Result<EndpointView>> + 'a {
        self.listed("/webhook-endpoints".into(), filters, "cursor", |p: EndpointPage| {
            (p.webhook_endpoints, p.next_cursor)
        })
    }

    pub fn delivery_attempts<'a>(
        &'a self,
        endpoint: EndpointId,
        filters: &'a [(&'a str, String)],
    ) -> impl Stream<Item = Result<AttemptView>> + 'a {
        self.listed(format!("/webhook-endpoints/{endpoint}/attempts"), filters, "cursor", |p: AttemptPage| {
            (p.attempts, p.next_cursor)
        })
    }

    fn listed<'a, P, T, C>(
        &'a self,
        path: String,
        filters: &'a [(&'a str, String)],
        cursor_name: &'static str,
        split: fn(P) -> (Vec<T>, Option<C>),
    ) -> impl Stream<Item = Result<T>> + 'a
    where
        P: DeserializeOwned + 'a,
        T: 'a,
        C: Clone + std::fmt::Display + 'a,
    {
        pages(move |cursor: Option<C>| {
            let mut query = filters.to_vec();
            query.extend(cursor.map(|c| (cursor_name, c.to_string())));
            let call = Call::get(path.clone()).with_query(query);
            async move { self.json::<P>(call).await.map(split) }
        })
    }

    // Waiting

    /// The payment once its status is terminal, polling every 100 ms;
    /// [`Error::WaitTimedOut`] after `timeout`.
    pub async fn wait_until_terminal(&self, id: PaymentId, timeout: Duration) -> Result<PaymentView> {
        self.wait_until(id, timeout, &TERMINAL_PAYMENT_STATUSES).await
    }

    /// The payment once its status is one of `until` (`authorized`, say).
    pub async fn wait_until(
        &self,
        id: PaymentId,
        timeout: Duration,
        until: &[PaymentStatus],
    ) -> Result<PaymentView> {
        let deadline = Instant::now() + timeout;
        loop {
            let payment = self.get_payment(id).await?;
            if until.contains(&payment.status) {
                return Ok(payment);
            }
            if Instant::now() >= deadline {
                return Err(Error::WaitTimedOut {
                    id: id.to_string(),
                    last_status: payment.status.to_string(),
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The refund once it is `done` or `failed`.
    pub async fn wait_until_refund_terminal(&self, id: RefundId, timeout: Duration) -> Result<RefundView> {
        let deadline = Instant::now() + timeout;
        loop {
            let refund = self.get_refund(id).await?;
            if refund.status != RefundStatus::Pending {
                return Ok(refund);
            }
            if Instant::now() >= deadline {
                return Err(Error::WaitTimedOut {
                    id: id.to_string(),
                    last_status: refund.status.to_string(),
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Call<'_> {
    fn not_replay_safe(mut self) -> Self {
        self.replay_safe = false;
        self
    }
}
