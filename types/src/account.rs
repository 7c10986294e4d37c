//! An account as the API shows it, its pages, its ledger entries with the
//! balance after each, its balance at an instant, its statement, and the
//! head of the hash chain over the ledger.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    AccountId, AmountSum, Currency, Metadata, Money, PaymentId, RefundId, SignedAmountSum, SignedMoney,
};

/// An account as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Account)]
pub struct AccountView {
    pub id: AccountId,
    pub currency: Currency,
    /// With the currency's decimals; below zero while the account spends
    /// its credit (never below `-credit_limit`).
    pub balance: SignedMoney,
    /// Balance plus credit limit, minus what open authorizations hold:
    /// what payments may spend.
    pub available_balance: Money,
    /// How far below zero the balance may go.
    pub credit_limit: Money,
    pub metadata: Metadata,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountPage {
    pub accounts: Vec<AccountView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<AccountId>,
}

/// One ledger entry of an account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = LedgerEntry)]
pub struct EntryView {
    /// The entry's id: pass as `after` to page on from it.
    pub id: i64,
    /// `issuance`, `debit`, `credit`, `hold`, `release`, `capture`,
    /// `refund_debit` or `refund_credit`. A `hold` and a `release` move the
    /// held amount, not the balance.
    pub kind: String,
    /// The payment it belongs to (null for issuance and refunds).
    pub payment_id: Option<PaymentId>,
    /// The refund it belongs to (refund entries only).
    pub refund_id: Option<RefundId>,
    /// Signed: negative for what leaves the account (or its held amount).
    pub amount: SignedMoney,
    /// The account's balance right after this entry.
    pub balance_after: SignedMoney,
    /// What open authorizations held on the account right after this entry
    /// (a `hold` raises it, a `release` lowers it).
    pub held_after: Money,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EntryPage {
    pub entries: Vec<EntryView>,
    /// Pass as `after` (with the same `order`) for the next page; null on the last page.
    pub next_after: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceAt {
    pub account_id: AccountId,
    pub at: DateTime<Utc>,
    /// The balance at `at`: after every entry made at or before it.
    pub balance: SignedMoney,
    /// What open authorizations held at `at`.
    pub held: Money,
    /// What payments could spend at `at`: the balance plus the credit limit
    /// as it was at `at`, minus `held`, not below zero.
    pub available_balance: Money,
}

/// One UTC day of an account's ledger.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = StatementDay)]
pub struct DayView {
    pub day: NaiveDate,
    pub debits: AmountSum,
    pub credits: AmountSum,
    pub entries: i64,
    /// The balance at the end of the day: below zero while the account
    /// spends its credit.
    pub closing_balance: SignedAmountSum,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Statement {
    pub account_id: AccountId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Days with ledger activity, oldest first.
    pub days: Vec<DayView>,
    /// The statement reflects the ledger as of this time (the totals' last
    /// refresh: every entry committed before it is counted); newer activity
    /// appears after the next refresh.
    pub as_of: DateTime<Utc>,
}

/// The head of the ledger's hash chain.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerHead {
    /// The audit checkpoint it is the hash of.
    pub checkpoint_id: i64,
    /// Every ledger entry up to this id is chained.
    pub last_entry_id: i64,
    /// SHA-256 (HMAC-SHA-256 under `AUDIT_CHECKPOINT_KEY`), hex: over the
    /// checkpoint, the previous head and every entry since it.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: String,
    /// When the checkpoint was made.
    pub created_at: DateTime<Utc>,
}
