from enum import StrEnum


class PaymentStatus(StrEnum):
    AUTHORIZED = "authorized"
    DONE = "done"
    EXPIRED = "expired"
    FAILED = "failed"
    PENDING = "pending"
    VOIDED = "voided"

    def __str__(self) -> str:
        return str(self.value)
