from enum import StrEnum


class SubscribedType(StrEnum):
    ACCOUNT_CREDIT_LIMIT_CHANGED = "account.credit_limit_changed"
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_CAPTURED = "payment.captured"
    PAYMENT_CREATED = "payment.created"
    PAYMENT_DONE = "payment.done"
    PAYMENT_EXPIRED = "payment.expired"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_VOIDED = "payment.voided"
    REFUND_DONE = "refund.done"
    REFUND_FAILED = "refund.failed"
    VALUE_10 = "*"

    def __str__(self) -> str:
        return str(self.value)
