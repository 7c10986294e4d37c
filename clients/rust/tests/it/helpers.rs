//! What the live tests share: the server's address and tokens, a webhook
//! receiver, and a proxy that drops answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use payrail_client::Client;
use payrail_client::types::{AccountId, CreateAccount, CreatePayment, PaymentView};
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub struct Server {
    pub url: String,
    pub admin_token: String,
    pub pay_token: String,
}

pub fn server() -> Server {
    let var = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} not set: run the live tests with scripts/clients-test"))
    };
    Server { url: var("PAYRAIL_URL"), admin_token: var("PAYRAIL_TOKEN"), pay_token: var("PAYRAIL_PAY_TOKEN") }
}

pub fn admin() -> Client {
    let s = server();
    Client::new(&s.url, s.admin_token).unwrap()
}

pub async fn funded(client: &Client, balance: &str) -> AccountId {
    let body = CreateAccount { initial_balance: Some(balance.into()), ..CreateAccount::default() };
    client.create_account(&body, None).await.unwrap().id
}

pub async fn empty(client: &Client) -> AccountId {
    client.create_account(&CreateAccount::default(), None).await.unwrap().id
}

pub fn payment(from: AccountId, to: AccountId, amount: &str) -> CreatePayment {
    CreatePayment {
        from_account: from.to_string(),
        to_account: to.to_string(),
        amount: amount.into(),
        ..CreatePayment::default()
    }
}

pub async fn pay(client: &Client, from: AccountId, to: AccountId, amount: &str) -> PaymentView {
    client.create_payment(&payment(from, to, amount), None).await.unwrap()
}

pub const SETTLED: Duration = Duration::from_secs(30);

/// One webhook delivery as received.
pub struct Delivery {
    pub body: Bytes,
    pub signature: String,
}

/// An HTTP server on loopback that answers 200 to every POST and passes on what it got.
pub struct Receiver {
    pub url: String,
    got: mpsc::UnboundedReceiver<Delivery>,
}

impl Receiver {
    pub async fn start() -> Self {
        let (tx, got) = mpsc::unbounded_channel();
        let app = axum::Router::new().route(
            "/payrail",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let tx = tx.clone();
                async move {
                    let signature = headers
                        .get("payrail-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let _ = tx.send(Delivery { body, signature });
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/payrail", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, got }
    }

    /// The first delivery whose body contains `needle`.
    pub async fn next_with(&mut self, needle: &str) -> Delivery {
        tokio::time::timeout(SETTLED, async {
            loop {
                let d = self.got.recv().await.expect("the receiver runs");
                if String::from_utf8_lossy(&d.body).contains(needle) {
                    return d;
                }
            }
        })
        .await
        .expect("no such delivery in time")
    }
}

/// A TCP proxy to the API that lets the first `drops` connections deliver
/// their request and closes them as the answer starts to come back: the
/// server has recorded the request, the client never hears so.
pub struct DroppingProxy {
    pub url: String,
    pub connections: Arc<AtomicUsize>,
}

impl DroppingProxy {
    pub async fn start(upstream: &str, drops: usize) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let drop = count.fetch_add(1, Ordering::SeqCst) < drops;
                let mut server = TcpStream::connect(&upstream).await.unwrap();
                tokio::spawn(async move {
                    if drop {
                        let (mut from_client, mut to_server) = server.split();
                        let (mut client_read, _client_write) = client.split();
                        let forward = tokio::io::copy(&mut client_read, &mut to_server);
                        let mut first = [0u8; 1];
                        tokio::select! {
                            _ = forward => {}
                            _ = from_client.read(&mut first) => {}
                        }
                        // The answer has started: close both sides unanswered.
                        let _ = client.shutdown().await;
                    } else {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        DroppingProxy { url, connections }
    }
}
