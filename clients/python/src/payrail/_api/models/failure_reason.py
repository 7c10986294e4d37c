from enum import StrEnum


class FailureReason(StrEnum):
    BALANCE_OVERFLOW = "balance_overflow"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    REFUND_EXCEEDS_PAYMENT = "refund_exceeds_payment"

    def __str__(self) -> str:
        return str(self.value)
