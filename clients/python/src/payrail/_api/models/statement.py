from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.statement_day import StatementDay


T = TypeVar("T", bound="Statement")


@_attrs_define
class Statement:
    """
    Attributes:
        account_id (UUID): An account's id.
        from_ (datetime.date):
        to (datetime.date):
        days (list[StatementDay]): Days with ledger activity, oldest first.
        as_of (datetime.datetime): The statement reflects the ledger as of this time (the totals' last
            refresh: every entry committed before it is counted); newer activity
            appears after the next refresh.
    """

    account_id: UUID
    from_: datetime.date
    to: datetime.date
    days: list[StatementDay]
    as_of: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        account_id = str(self.account_id)

        from_ = self.from_.isoformat()

        to = self.to.isoformat()

        days = []
        for days_item_data in self.days:
            days_item = days_item_data.to_dict()
            days.append(days_item)

        as_of = self.as_of.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "account_id": account_id,
                "from": from_,
                "to": to,
                "days": days,
                "as_of": as_of,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.statement_day import StatementDay

        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        from_ = datetime.date.fromisoformat(d.pop("from"))

        to = datetime.date.fromisoformat(d.pop("to"))

        days = []
        _days = d.pop("days")
        for days_item_data in _days:
            days_item = StatementDay.from_dict(days_item_data)

            days.append(days_item)

        as_of = datetime.datetime.fromisoformat(d.pop("as_of"))

        statement = cls(
            account_id=account_id,
            from_=from_,
            to=to,
            days=days,
            as_of=as_of,
        )

        statement.additional_properties = d
        return statement

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
