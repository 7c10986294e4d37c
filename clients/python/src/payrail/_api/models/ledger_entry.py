from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="LedgerEntry")


@_attrs_define
class LedgerEntry:
    """One ledger entry of an account.

    Attributes:
        id (int): The entry's id: pass as `after` to page on from it.
        kind (str): `issuance`, `debit`, `credit`, `hold`, `release`, `capture`,
            `refund_debit` or `refund_credit`. A `hold` and a `release` move the
            held amount, not the balance.
        amount (str): a signed amount with exactly its currency's decimals
        balance_after (str): a signed amount with exactly its currency's decimals
        held_after (str): an amount with exactly its currency's decimals
        created_at (datetime.datetime):
        payment_id (None | Unset | UUID):
        refund_id (None | Unset | UUID):
    """

    id: int
    kind: str
    amount: str
    balance_after: str
    held_after: str
    created_at: datetime.datetime
    payment_id: None | Unset | UUID = UNSET
    refund_id: None | Unset | UUID = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        kind = self.kind

        amount = self.amount

        balance_after = self.balance_after

        held_after = self.held_after

        created_at = self.created_at.isoformat()

        payment_id: None | str | Unset
        if isinstance(self.payment_id, Unset):
            payment_id = UNSET
        elif isinstance(self.payment_id, UUID):
            payment_id = str(self.payment_id)
        else:
            payment_id = self.payment_id

        refund_id: None | str | Unset
        if isinstance(self.refund_id, Unset):
            refund_id = UNSET
        elif isinstance(self.refund_id, UUID):
            refund_id = str(self.refund_id)
        else:
            refund_id = self.refund_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "kind": kind,
                "amount": amount,
                "balance_after": balance_after,
                "held_after": held_after,
                "created_at": created_at,
            }
        )
        if payment_id is not UNSET:
            field_dict["payment_id"] = payment_id
        if refund_id is not UNSET:
            field_dict["refund_id"] = refund_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        id = d.pop("id")

        kind = d.pop("kind")

        amount = d.pop("amount")

        balance_after = d.pop("balance_after")

        held_after = d.pop("held_after")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_payment_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                payment_id_type_1 = UUID(data)

                return payment_id_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        payment_id = _parse_payment_id(d.pop("payment_id", UNSET))

        def _parse_refund_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                refund_id_type_1 = UUID(data)

                return refund_id_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        refund_id = _parse_refund_id(d.pop("refund_id", UNSET))

        ledger_entry = cls(
            id=id,
            kind=kind,
            amount=amount,
            balance_after=balance_after,
            held_after=held_after,
            created_at=created_at,
            payment_id=payment_id,
            refund_id=refund_id,
        )

        ledger_entry.additional_properties = d
        return ledger_entry

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
