from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.currency import Currency

if TYPE_CHECKING:
    from ..models.metadata import Metadata


T = TypeVar("T", bound="Account")


@_attrs_define
class Account:
    """An account as the API shows it.

    Attributes:
        id (UUID): An account's id.
        currency (Currency): An ISO 4217 code with a minor unit
        balance (str): a signed amount with exactly its currency's decimals
        available_balance (str): an amount with exactly its currency's decimals
        credit_limit (str): an amount with exactly its currency's decimals
        metadata (Metadata):
        created_at (datetime.datetime):
    """

    id: UUID
    currency: Currency
    balance: str
    available_balance: str
    credit_limit: str
    metadata: Metadata
    created_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        currency = self.currency.value

        balance = self.balance

        available_balance = self.available_balance

        credit_limit = self.credit_limit

        metadata = self.metadata.to_dict()

        created_at = self.created_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "currency": currency,
                "balance": balance,
                "available_balance": available_balance,
                "credit_limit": credit_limit,
                "metadata": metadata,
                "created_at": created_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.metadata import Metadata

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        currency = Currency(d.pop("currency"))

        balance = d.pop("balance")

        available_balance = d.pop("available_balance")

        credit_limit = d.pop("credit_limit")

        metadata = Metadata.from_dict(d.pop("metadata"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        account = cls(
            id=id,
            currency=currency,
            balance=balance,
            available_balance=available_balance,
            credit_limit=credit_limit,
            metadata=metadata,
            created_at=created_at,
        )

        account.additional_properties = d
        return account

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
