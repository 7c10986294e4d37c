//! Defaults of the settings that payment-app reads and the operator writes
//! into the app's pods. payment-app's command line takes its defaults from
//! here, and so does the operator's CRD, so the two cannot drift apart
//! (they did once, when each had its own literals).

/// Lock-queue messages a lock worker holds unacknowledged.
pub const LOCK_PREFETCH: u16 = 1024;
/// Most payments locked together and forwarded to settle as one message.
/// Large, because payments of one batch that share an account are granted
/// together: over few or hot accounts a large batch settles many payments
/// per lock cycle (measured in BENCHMARKS.md against 200).
pub const LOCK_BATCH_MAX: u16 = 1000;
/// Lock batches' worth of payments a lock worker keeps waiting for their
/// locks at once: its pool holds `LOCK_BATCH_MAX` times this many.
pub const LOCK_CONCURRENCY: u16 = 4;
/// Settle-queue messages (each a locked batch) a settle worker holds.
/// A settle message carries a whole locked batch, so a few of them already
/// make a large transaction.
pub const SETTLE_PREFETCH: u16 = 64;
/// Most settle messages applied in one transaction.
pub const SETTLE_BATCH_MAX: u16 = 16;
/// How long an account lock lives unless released, in milliseconds.
pub const LOCK_TTL_MS: u64 = 30_000;
/// Connections per PostgreSQL pool (primary and replica each).
pub const DB_POOL_SIZE: u32 = 16;
/// The whole of a graceful stop, in seconds: after SIGTERM, work in hand
/// gets this long before the process exits anyway.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 30;
/// The port payment-app's HTTP API listens on.
pub const HTTP_PORT: u16 = 8080;
/// The port of payment-app's probes and metrics where they are kept off
/// the API's port (`OPS_ADDR`, which the operator sets).
pub const OPS_PORT: u16 = 9090;
/// Requests per second each API token may make, sustained.
pub const API_RATE_PER_SEC: u32 = 10_000;
/// Requests each API token may make at once above its sustained rate.
pub const API_RATE_BURST: u32 = 20_000;
/// Longest a payment waits for an account row another session holds, in
/// milliseconds.
pub const INTAKE_LOCK_TIMEOUT_MS: u64 = 1_000;
/// The ISO 4217 currency of accounts opened without one.
pub const DEFAULT_CURRENCY: &str = "USD";
/// Largest initial balance an account may be opened with.
pub const MAX_ACCOUNT_ISSUANCE: &str = "1000000000.00";
/// Most money issued in all.
pub const MAX_TOTAL_ISSUANCE: &str = "100000000000000.00";
/// Most webhook endpoints.
pub const WEBHOOK_MAX_ENDPOINTS: u16 = 16;
/// Longest one webhook delivery may take, in milliseconds.
pub const WEBHOOK_TIMEOUT_MS: u64 = 10_000;
