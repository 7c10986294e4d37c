//! payment-app's integration tests: one binary, one module per area, all
//! against the real PostgreSQL, RabbitMQ and Redis on this machine (see
//! `common`). One binary because each links the whole crate: a dozen of
//! them took most of CI's time on two cores.
//!
//! `faults` restarts the shared services; its tests are `#[ignore]`d here
//! and run by `scripts/test` after everything else, one at a time.

#![allow(clippy::unwrap_used)] // tests fail loudly on the first surprise

mod common;

mod access;
mod architecture;
mod audit;
mod batch;
mod credit;
mod credit_events;

mod bench;
mod chain;
mod cli;
mod console;
mod currencies;
mod database_tls;
mod entries;
mod events_amqp;
mod export;
mod faults;
mod flow;
mod guarantees;
mod held_rows;
mod holds;
mod instances;
mod load;
mod lock;
mod metadata;
mod openapi;
mod plans;
mod pooler;
mod promises;
mod readyz;
mod refunds;
mod replica;
mod retention;
mod search;
mod sessions;
mod settle;
mod slow_clients;
mod statements;
mod traces;
mod webhooks;
