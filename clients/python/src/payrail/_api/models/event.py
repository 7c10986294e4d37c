from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.event_type import EventType

if TYPE_CHECKING:
    from ..models.credit_limit_change import CreditLimitChange
    from ..models.payment import Payment
    from ..models.refund import Refund


T = TypeVar("T", bound="Event")


@_attrs_define
class Event:
    """One event: `{id, type, created_at, data}`.

    Attributes:
        id (UUID): An event's id: their order is the events' order.
        type_ (EventType): The kinds of event payrail emits.
        created_at (datetime.datetime):
        data (CreditLimitChange | Payment | Refund): What an event is about: a payment (`payment.*`), a refund
            (`refund.*`)
            or an account's credit limit (`account.credit_limit_changed`).
    """

    id: UUID
    type_: EventType
    created_at: datetime.datetime
    data: CreditLimitChange | Payment | Refund
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.payment import Payment
        from ..models.refund import Refund

        id = str(self.id)

        type_ = self.type_.value

        created_at = self.created_at.isoformat()

        data: dict[str, Any]
        if isinstance(self.data, Payment) or isinstance(self.data, Refund):
            data = self.data.to_dict()
        else:
            data = self.data.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "type": type_,
                "created_at": created_at,
                "data": data,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.credit_limit_change import CreditLimitChange
        from ..models.payment import Payment
        from ..models.refund import Refund

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        type_ = EventType(d.pop("type"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_data(data: object) -> CreditLimitChange | Payment | Refund:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_data_type_0 = Payment.from_dict(data)

                return componentsschemas_event_data_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_data_type_1 = Refund.from_dict(data)

                return componentsschemas_event_data_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_event_data_type_2 = CreditLimitChange.from_dict(data)

            return componentsschemas_event_data_type_2

        data = _parse_data(d.pop("data"))

        event = cls(
            id=id,
            type_=type_,
            created_at=created_at,
            data=data,
        )

        event.additional_properties = d
        return event

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
