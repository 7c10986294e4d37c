//! The PostgreSQL seam. The provider was resolved once, in validate, into
//! a `PostgresPlan`; each provider is a module here (`builtin`: the
//! operator's own StatefulSets, `cnpg`: a CloudNativePG Cluster,
//! `external`: a server the operator does not run) answering the same
//! questions ([`Provider`]), and [`provider`] is the one place the plan is
//! matched. Another provider is another module and another arm, not an
//! edit of every builder. What the operator-run providers share (the port,
//! the roles, the URLs) is in `connection`, below both.

mod backups;
mod builtin;
mod cnpg;
pub mod connection;
pub mod external;
mod provider;

pub use provider::{Inputs, Owner, Provider, Report};

use crate::reconcile::validate::PostgresPlan;

/// The provider of a plan: every question about PostgreSQL goes through it.
pub fn provider(plan: &PostgresPlan) -> &dyn Provider {
    match plan {
        PostgresPlan::Builtin(builtin) => builtin,
        PostgresPlan::Cnpg(cnpg) => cnpg,
        PostgresPlan::External(external) => external,
    }
}

#[cfg(test)]
mod tests;
