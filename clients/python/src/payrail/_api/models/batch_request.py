from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.batch_item import BatchItem


T = TypeVar("T", bound="BatchRequest")


@_attrs_define
class BatchRequest:
    """Payments to submit together.

    Attributes:
        payments (list[BatchItem]): 1 to `BATCH_MAX_ITEMS` items, each a `POST /api/v1/payment` body
            with an optional `idempotency_key`.
        atomic (bool | Unset): Linked: one invalid item refuses the whole request, and at settle
            every payment is `done` or every one `failed`.
    """

    payments: list[BatchItem]
    atomic: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        payments = []
        for payments_item_data in self.payments:
            payments_item = payments_item_data.to_dict()
            payments.append(payments_item)

        atomic = self.atomic

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "payments": payments,
            }
        )
        if atomic is not UNSET:
            field_dict["atomic"] = atomic

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.batch_item import BatchItem

        d = dict(src_dict)
        payments = []
        _payments = d.pop("payments")
        for payments_item_data in _payments:
            payments_item = BatchItem.from_dict(payments_item_data)

            payments.append(payments_item)

        atomic = d.pop("atomic", UNSET)

        batch_request = cls(
            payments=payments,
            atomic=atomic,
        )

        return batch_request
