//! The first payment that README.md and this crate's README show: they show
//! this file's regions (tests/it/readme.rs fails when they differ), and
//! tests/it/readme.rs runs it against the live server scripts/clients-test
//! starts, so what the READMEs show is what ran.

#![allow(clippy::print_stdout)] // what it prints is what it shows

// ANCHOR: readme
use std::time::Duration;

use futures_util::TryStreamExt;
use payrail_client::Client;
use payrail_client::types::{CreateAccount, CreatePayment};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // ANCHOR: short
    let payrail = Client::new(&std::env::var("PAYRAIL_URL")?, std::env::var("PAYRAIL_TOKEN")?)?;
    let funded = CreateAccount { initial_balance: Some("100.00".into()), ..Default::default() }; // `issue` scope
    let a = payrail.create_account(&funded, None).await?;
    let b = payrail.create_account(&CreateAccount::default(), None).await?;
    let body = CreatePayment {
        from_account: a.id.to_string(),
        to_account: b.id.to_string(),
        amount: "99.01".into(),
        ..Default::default()
    };
    // None: the client makes the Idempotency-Key, and every retry reuses it.
    let p = payrail.create_payment(&body, None).await?;
    println!("{}", payrail.wait_until_terminal(p.id, Duration::from_secs(10)).await?.status); // done
    // ANCHOR_END: short
    println!("{}", payrail.get_account(a.id).await?.balance); // 0.99
    let filters = [("account", a.id.to_string()), ("status", "done".into())];
    let done: Vec<_> = payrail.payments(&filters).try_collect().await?;
    for payment in done {
        println!("{}", payment.id);
    }
    Ok(())
}
// ANCHOR_END: readme
