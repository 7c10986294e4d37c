from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..models.currency import Currency
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.metadata import Metadata


T = TypeVar("T", bound="CreateAccount")


@_attrs_define
class CreateAccount:
    """
    Attributes:
        initial_balance (None | str | Unset): Decimal string in the account's currency; absent means zero. Above
            zero it is new money, and takes the `issue` scope.
        credit_limit (None | str | Unset): How far below zero the balance may go, a decimal string in the
            account's currency; absent means zero. Above zero it lets the account
            spend money it does not have, counts like issuance (within
            `MAX_ACCOUNT_ISSUANCE`, and part of `MAX_TOTAL_ISSUANCE`) and takes
            the `issue` scope.
        currency (Currency | None | Unset):
        metadata (Metadata | None | Unset):
    """

    initial_balance: None | str | Unset = UNSET
    credit_limit: None | str | Unset = UNSET
    currency: Currency | None | Unset = UNSET
    metadata: Metadata | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.metadata import Metadata

        initial_balance: None | str | Unset
        if isinstance(self.initial_balance, Unset):
            initial_balance = UNSET
        else:
            initial_balance = self.initial_balance

        credit_limit: None | str | Unset
        if isinstance(self.credit_limit, Unset):
            credit_limit = UNSET
        else:
            credit_limit = self.credit_limit

        currency: None | str | Unset
        if isinstance(self.currency, Unset):
            currency = UNSET
        elif isinstance(self.currency, Currency):
            currency = self.currency.value
        else:
            currency = self.currency

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, Metadata):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if initial_balance is not UNSET:
            field_dict["initial_balance"] = initial_balance
        if credit_limit is not UNSET:
            field_dict["credit_limit"] = credit_limit
        if currency is not UNSET:
            field_dict["currency"] = currency
        if metadata is not UNSET:
            field_dict["metadata"] = metadata

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.metadata import Metadata

        d = dict(src_dict)

        def _parse_initial_balance(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        initial_balance = _parse_initial_balance(d.pop("initial_balance", UNSET))

        def _parse_credit_limit(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        credit_limit = _parse_credit_limit(d.pop("credit_limit", UNSET))

        def _parse_currency(data: object) -> Currency | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                currency_type_1 = Currency(data)

                return currency_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Currency | None | Unset, data)

        currency = _parse_currency(d.pop("currency", UNSET))

        def _parse_metadata(data: object) -> Metadata | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_1 = Metadata.from_dict(data)

                return metadata_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Metadata | None | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))

        create_account = cls(
            initial_balance=initial_balance,
            credit_limit=credit_limit,
            currency=currency,
            metadata=metadata,
        )

        return create_account
