from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="StatementDay")


@_attrs_define
class StatementDay:
    """One UTC day of an account's ledger.

    Attributes:
        day (datetime.date):
        debits (str): a non-negative decimal with exactly the currency's decimals
        credits_ (str): a non-negative decimal with exactly the currency's decimals
        entries (int):
        closing_balance (str): a signed decimal with exactly the currency's decimals
    """

    day: datetime.date
    debits: str
    credits_: str
    entries: int
    closing_balance: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        day = self.day.isoformat()

        debits = self.debits

        credits_ = self.credits_

        entries = self.entries

        closing_balance = self.closing_balance

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "day": day,
                "debits": debits,
                "credits": credits_,
                "entries": entries,
                "closing_balance": closing_balance,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        day = datetime.date.fromisoformat(d.pop("day"))

        debits = d.pop("debits")

        credits_ = d.pop("credits")

        entries = d.pop("entries")

        closing_balance = d.pop("closing_balance")

        statement_day = cls(
            day=day,
            debits=debits,
            credits_=credits_,
            entries=entries,
            closing_balance=closing_balance,
        )

        statement_day.additional_properties = d
        return statement_day

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
