from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.currency import Currency

T = TypeVar("T", bound="CreditLimitChange")


@_attrs_define
class CreditLimitChange:
    """A change of an account's credit limit, as `account.credit_limit_changed`
    sends it: made by the account's opening (from 0) or by a `PATCH`.

        Attributes:
            account_id (UUID): An account's id.
            currency (Currency): An ISO 4217 code with a minor unit
            old_credit_limit (str): an amount with exactly its currency's decimals
            new_credit_limit (str): an amount with exactly its currency's decimals
            changed_at (datetime.datetime):
    """

    account_id: UUID
    currency: Currency
    old_credit_limit: str
    new_credit_limit: str
    changed_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        account_id = str(self.account_id)

        currency = self.currency.value

        old_credit_limit = self.old_credit_limit

        new_credit_limit = self.new_credit_limit

        changed_at = self.changed_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "account_id": account_id,
                "currency": currency,
                "old_credit_limit": old_credit_limit,
                "new_credit_limit": new_credit_limit,
                "changed_at": changed_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        currency = Currency(d.pop("currency"))

        old_credit_limit = d.pop("old_credit_limit")

        new_credit_limit = d.pop("new_credit_limit")

        changed_at = datetime.datetime.fromisoformat(d.pop("changed_at"))

        credit_limit_change = cls(
            account_id=account_id,
            currency=currency,
            old_credit_limit=old_credit_limit,
            new_credit_limit=new_credit_limit,
            changed_at=changed_at,
        )

        credit_limit_change.additional_properties = d
        return credit_limit_change

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
