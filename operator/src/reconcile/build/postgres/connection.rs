//! How the app reaches a PostgreSQL the operator runs, whoever runs it
//! (builtin or CNPG): the port, the owner and app roles, the database, and
//! the URLs built from them. Kept apart from both providers so neither
//! imports the other, and app env and network read them from one place.

use crate::names::Names;

pub const PORT: u16 = 5432;
pub const USER: &str = "payrail";
pub const DATABASE: &str = "payrail";

/// A database URL for the app; the password is expanded from its environment.
pub fn url(names: &Names, service: &str) -> String {
    format!("postgres://{USER}:$(POSTGRES_PASSWORD)@{}:{PORT}/{DATABASE}", names.host(service))
}

/// The role payment-app connects as: not the owner, made and granted by
/// `payment-app migrate --app-role` (with `DB_APP_PASSWORD`).
pub const APP_USER: &str = "payrail_app";

/// The app role's URL of `service`, its password expanded from
/// `DB_APP_PASSWORD`.
pub fn app_url(names: &Names, service: &str) -> String {
    format!("postgres://{APP_USER}:$(DB_APP_PASSWORD)@{}:{PORT}/{DATABASE}", names.host(service))
}
