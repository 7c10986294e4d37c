//! Retention: events and webhook delivery attempts past
//! `EVENTS_RETENTION_DAYS` and idempotency keys past their 24 hours are
//! removed by the app, in batches; what is newer stays, and a client
//! paging the events feed across the removal misses nothing that is kept.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::{NoContext, Timestamp, Uuid};

use crate::common::{App, TestEnv, poll_within};

/// A UUID v7 made at `at`, as the app would have made it then.
fn id_at(at: DateTime<Utc>) -> Uuid {
    let secs = u64::try_from(at.timestamp()).unwrap();
    Uuid::new_v7(Timestamp::from_unix(NoContext, secs, at.timestamp_subsec_nanos()))
}

async fn count(pg: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pg).await.unwrap()
}

#[tokio::test]
async fn rows_past_retention_go_newer_ones_stay_and_the_feed_still_pages() {
    let env = TestEnv::new();
    let pg = env.migrated_pg().await;

    // A payment for the events to be about (failed: nothing will settle it
    // and write more), and an endpoint that was sent every event.
    let (a, b, payment, endpoint) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    sqlx::query("INSERT INTO accounts (id, balance) VALUES ($1, 0), ($2, 0)")
        .bind(a)
        .bind(b)
        .execute(&pg)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO payments (id, from_account, to_account, amount, status, failure_reason) \
         VALUES ($1, $2, $3, 1, 'failed', 'insufficient_funds')",
    )
    .bind(payment)
    .bind(a)
    .bind(b)
    .execute(&pg)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, secret) VALUES ($1, 'https://example.com/hook', 'whsec_x')",
    )
    .bind(endpoint)
    .execute(&pg)
    .await
    .unwrap();
    // Six events of 40 days ago and six of 29 days ago and today, each
    // with its delivery and one attempt.
    let now = Utc::now();
    let mut old = Vec::new();
    let mut kept = Vec::new();
    for i in 0..12 {
        let at = match i {
            0..6 => now - chrono::Duration::days(40) + chrono::Duration::milliseconds(i),
            6..9 => now - chrono::Duration::days(29) + chrono::Duration::milliseconds(i),
            _ => now + chrono::Duration::milliseconds(i),
        };
        let event = id_at(at);
        sqlx::query(
            "INSERT INTO events (id, type, payment_id, status, payment_updated_at, created_at) \
             VALUES ($1, 'payment.created', $2, 'pending', $3, $3)",
        )
        .bind(event)
        .bind(payment)
        .bind(at)
        .execute(&pg)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, subject_id, state, attempts) \
             VALUES ($1, $2, $3, 'delivered', 1)",
        )
        .bind(endpoint)
        .bind(event)
        .bind(payment)
        .execute(&pg)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO webhook_attempts (id, endpoint_id, event_id, attempt, attempted_at, status_code, duration_ms) \
             VALUES ($1, $2, $3, 1, $4, 200, 5)",
        )
        .bind(id_at(at))
        .bind(endpoint)
        .bind(event)
        .bind(at)
        .execute(&pg)
        .await
        .unwrap();
        if i < 6 { old.push(event) } else { kept.push(event) }
    }
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request, status, response, created_at) \
         VALUES ('payment', 'old', '{}', 202, '{}', now() - interval '25 hours'), \
                ('payment', 'new', '{}', 202, '{}', now() - interval '23 hours')",
    )
    .execute(&pg)
    .await
    .unwrap();

    // A client reads the feed's first page, two events, before the removal.
    let first = payment_app::db::events::list_after(&pg, None, 2).await.unwrap();
    let first: Vec<Uuid> = first.iter().map(|e| e.id.as_uuid()).collect();
    assert_eq!(first, old[..2]);

    // Batches of four: the six old events take two.
    let app = App::start_with(
        &env,
        &["all"],
        &[("EVENTS_RETENTION_DAYS", "30"), ("RETENTION_INTERVAL_SECS", "1"), ("RETENTION_BATCH", "4")],
    )
    .await;
    poll_within(Duration::from_secs(30), || async {
        let left = (
            count(&pg, "SELECT count(*) FROM events").await,
            count(&pg, "SELECT count(*) FROM webhook_attempts").await,
            count(&pg, "SELECT count(*) FROM idempotency_keys").await,
        );
        if left.0 <= 6 && left.1 <= 6 && left.2 <= 1 { Ok(()) } else { Err(format!("{left:?}")) }
    })
    .await
    .unwrap_or_else(|left| {
        panic!("nothing past retention was removed (events, attempts, keys: {left}):\n{}", app.log_tail())
    });
    let ids = |table: &'static str, column: &'static str| {
        let pg = pg.clone();
        async move {
            sqlx::query_scalar::<_, Uuid>(&format!("SELECT {column} FROM {table} ORDER BY {column}"))
                .fetch_all(&pg)
                .await
                .unwrap()
        }
    };
    assert_eq!(ids("events", "id").await, kept, "the old events went, the newer stayed");
    assert_eq!(ids("webhook_deliveries", "event_id").await, kept, "and their deliveries with them");
    assert_eq!(ids("webhook_attempts", "event_id").await, kept, "attempts go by their own age");
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT key FROM idempotency_keys").fetch_all(&pg).await.unwrap();
    assert_eq!(keys, ["new"]);
    assert!(app.log_text().contains("retention removed"), "{}", app.log_tail());

    // The client goes on from its cursor, a removed event: it gets every
    // kept event, in order, once.
    let mut after = first[1].to_string();
    let mut seen = Vec::new();
    loop {
        let (status, page) = app.get(&format!("/api/v1/events?after={after}&limit=2")).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().unwrap();
        if events.is_empty() {
            assert_eq!(page["next_after"], Value::Null);
            break;
        }
        seen.extend(events.iter().map(|e| e["id"].as_str().unwrap().parse::<Uuid>().unwrap()));
        after = page["next_after"].as_str().unwrap().to_owned();
    }
    assert_eq!(seen, kept);
    // From the start: the oldest kept event first; a removed one is gone.
    let (_, page) = app.get("/api/v1/events?limit=1").await;
    assert_eq!(page["events"][0]["id"], kept[0].to_string());
    let (status, _) = app.get(&format!("/api/v1/events/{}", old[0])).await;
    assert_eq!(status, 404);
}

/// An event past retention that the broker has not confirmed yet (still in
/// the `payrail.events` outbox) is kept until it is published: a broker
/// down for longer than the retention window delays removal, it never
/// loses an event.
#[tokio::test]
async fn an_event_not_yet_published_outlives_retention_until_published() {
    let env = TestEnv::new();
    let pg = env.migrated_pg().await;
    let (a, b, payment) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    sqlx::query("INSERT INTO accounts (id, balance) VALUES ($1, 0), ($2, 0)")
        .bind(a)
        .bind(b)
        .execute(&pg)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO payments (id, from_account, to_account, amount, status, failure_reason) \
         VALUES ($1, $2, $3, 1, 'failed', 'insufficient_funds')",
    )
    .bind(payment)
    .bind(a)
    .bind(b)
    .execute(&pg)
    .await
    .unwrap();
    let at = Utc::now() - chrono::Duration::days(40);
    let ms = chrono::Duration::milliseconds;
    let (published, owed, later) = (id_at(at), id_at(at + ms(1)), id_at(at + ms(2)));
    for event in [published, owed, later] {
        sqlx::query(
            "INSERT INTO events (id, type, payment_id, status, payment_updated_at, created_at) \
             VALUES ($1, 'payment.created', $2, 'pending', $3, $3)",
        )
        .bind(event)
        .bind(payment)
        .bind(at)
        .execute(&pg)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO event_publications (first_event, event_ids) VALUES ($1, ARRAY[$1])")
        .bind(owed)
        .execute(&pg)
        .await
        .unwrap();

    let forget = || async { count(&pg, "SELECT payrail_forget_events(30, 100)").await };
    assert_eq!(forget().await, 1, "only the event before the oldest one owed goes");
    let left: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM events ORDER BY id").fetch_all(&pg).await.unwrap();
    assert_eq!(
        left,
        [owed, later],
        "the event still owed to the broker stays, and so does what came after it"
    );

    // Once the broker confirmed it, they go like any other.
    sqlx::query("DELETE FROM event_publications").execute(&pg).await.unwrap();
    assert_eq!(forget().await, 2);
    assert_eq!(count(&pg, "SELECT count(*) FROM events").await, 0);
}
