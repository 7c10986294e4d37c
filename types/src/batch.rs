//! The answers of `POST /api/v1/payments/batch`: one result per item, or
//! the refusal of an atomic batch with its refused items.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ErrorDetail, PaymentView};

/// The answer (200): one result per item, in the request's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    pub results: Vec<BatchItemResult>,
}

/// One item's answer: `status` is what `POST /api/v1/payment` would have
/// answered it (202 with `payment`, or an error status with `error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchItemResult {
    pub index: usize,
    pub status: u16,
    /// The payment as recorded (for a replay: as it was first answered, or as
    /// it is now when an older release stored that answer in another shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentView>,
    /// Answered from the item's idempotency key: nothing recorded now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
    /// Why the item was refused, as an error answer's `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// A batch refused whole: the error, and for `atomic_batch_refused` every
/// refused item's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AtomicBatchRefusal {
    pub error: ErrorDetail,
    /// Present on `atomic_batch_refused` only.
    #[schema(required = false)]
    #[serde(default)]
    pub results: Vec<BatchItemResult>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    // What a client of another language would see: absent fields, not
    // nulls, and a refusal without `results` still reads.
    #[test]
    fn a_refused_item_has_no_payment_and_a_refusal_may_omit_results() {
        let refused = BatchItemResult {
            index: 2,
            status: 422,
            payment: None,
            replayed: false,
            error: Some(ErrorDetail::new(ErrorCode::SameAccount, "same")),
        };
        assert_eq!(
            serde_json::to_value(&refused).expect("serializes"),
            serde_json::json!({"index": 2, "status": 422, "error": {"code": "same_account", "message": "same"}})
        );
        let whole: AtomicBatchRefusal =
            serde_json::from_str(r#"{"error":{"code":"too_many_items","message":"at most 2"}}"#)
                .expect("parses");
        assert_eq!((whole.error.code, whole.results.len()), (ErrorCode::TooManyItems, 0));
    }
}
