from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="BalanceAt")


@_attrs_define
class BalanceAt:
    """
    Attributes:
        account_id (UUID): An account's id.
        at (datetime.datetime):
        balance (str): a signed amount with exactly its currency's decimals
        held (str): an amount with exactly its currency's decimals
        available_balance (str): an amount with exactly its currency's decimals
    """

    account_id: UUID
    at: datetime.datetime
    balance: str
    held: str
    available_balance: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        account_id = str(self.account_id)

        at = self.at.isoformat()

        balance = self.balance

        held = self.held

        available_balance = self.available_balance

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "account_id": account_id,
                "at": at,
                "balance": balance,
                "held": held,
                "available_balance": available_balance,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        at = datetime.datetime.fromisoformat(d.pop("at"))

        balance = d.pop("balance")

        held = d.pop("held")

        available_balance = d.pop("available_balance")

        balance_at = cls(
            account_id=account_id,
            at=at,
            balance=balance,
            held=held,
            available_balance=available_balance,
        )

        balance_at.additional_properties = d
        return balance_at

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
