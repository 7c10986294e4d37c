from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.capture import Capture
from ..models.currency import Currency
from ..models.failure_reason import FailureReason
from ..models.payment_status import PaymentStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.metadata import Metadata


T = TypeVar("T", bound="Payment")


@_attrs_define
class Payment:
    """A payment as `GET /api/v1/payment/{id}` shows it.

    Attributes:
        id (UUID): A payment's id.
        from_account (UUID): An account's id.
        to_account (UUID): An account's id.
        amount (str): an amount with exactly its currency's decimals
        currency (Currency): An ISO 4217 code with a minor unit
        status (PaymentStatus): A payment's state. `pending` moves to exactly one of the terminal states,
            or (a manual capture) to `authorized`, which moves to exactly one of
            `done` (captured), `voided`, `expired` (or `failed` should the payee's
            balance be unable to take the capture).
        metadata (Metadata):
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
        capture (Capture):
        amount_refunded (str): an amount with exactly its currency's decimals
        payment_description (None | str | Unset):
        failure_reason (FailureReason | None | Unset):
        hold_expires_at (datetime.datetime | None | Unset): When an authorization's hold ends unless captured or voided
            (set
            once authorized).
        amount_captured (None | str | Unset):
    """

    id: UUID
    from_account: UUID
    to_account: UUID
    amount: str
    currency: Currency
    status: PaymentStatus
    metadata: Metadata
    created_at: datetime.datetime
    updated_at: datetime.datetime
    capture: Capture
    amount_refunded: str
    payment_description: None | str | Unset = UNSET
    failure_reason: FailureReason | None | Unset = UNSET
    hold_expires_at: datetime.datetime | None | Unset = UNSET
    amount_captured: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        from_account = str(self.from_account)

        to_account = str(self.to_account)

        amount = self.amount

        currency = self.currency.value

        status = self.status.value

        metadata = self.metadata.to_dict()

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        capture = self.capture.value

        amount_refunded = self.amount_refunded

        payment_description: None | str | Unset
        if isinstance(self.payment_description, Unset):
            payment_description = UNSET
        else:
            payment_description = self.payment_description

        failure_reason: None | str | Unset
        if isinstance(self.failure_reason, Unset):
            failure_reason = UNSET
        elif isinstance(self.failure_reason, FailureReason):
            failure_reason = self.failure_reason.value
        else:
            failure_reason = self.failure_reason

        hold_expires_at: None | str | Unset
        if isinstance(self.hold_expires_at, Unset):
            hold_expires_at = UNSET
        elif isinstance(self.hold_expires_at, datetime.datetime):
            hold_expires_at = self.hold_expires_at.isoformat()
        else:
            hold_expires_at = self.hold_expires_at

        amount_captured: None | str | Unset
        if isinstance(self.amount_captured, Unset):
            amount_captured = UNSET
        else:
            amount_captured = self.amount_captured

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "from_account": from_account,
                "to_account": to_account,
                "amount": amount,
                "currency": currency,
                "status": status,
                "metadata": metadata,
                "created_at": created_at,
                "updated_at": updated_at,
                "capture": capture,
                "amount_refunded": amount_refunded,
            }
        )
        if payment_description is not UNSET:
            field_dict["payment_description"] = payment_description
        if failure_reason is not UNSET:
            field_dict["failure_reason"] = failure_reason
        if hold_expires_at is not UNSET:
            field_dict["hold_expires_at"] = hold_expires_at
        if amount_captured is not UNSET:
            field_dict["amount_captured"] = amount_captured

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.metadata import Metadata

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        from_account = UUID(d.pop("from_account"))

        to_account = UUID(d.pop("to_account"))

        amount = d.pop("amount")

        currency = Currency(d.pop("currency"))

        status = PaymentStatus(d.pop("status"))

        metadata = Metadata.from_dict(d.pop("metadata"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        capture = Capture(d.pop("capture"))

        amount_refunded = d.pop("amount_refunded")

        def _parse_payment_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        payment_description = _parse_payment_description(
            d.pop("payment_description", UNSET)
        )

        def _parse_failure_reason(data: object) -> FailureReason | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                failure_reason_type_1 = FailureReason(data)

                return failure_reason_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(FailureReason | None | Unset, data)

        failure_reason = _parse_failure_reason(d.pop("failure_reason", UNSET))

        def _parse_hold_expires_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                hold_expires_at_type_0 = datetime.datetime.fromisoformat(data)

                return hold_expires_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        hold_expires_at = _parse_hold_expires_at(d.pop("hold_expires_at", UNSET))

        def _parse_amount_captured(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount_captured = _parse_amount_captured(d.pop("amount_captured", UNSET))

        payment = cls(
            id=id,
            from_account=from_account,
            to_account=to_account,
            amount=amount,
            currency=currency,
            status=status,
            metadata=metadata,
            created_at=created_at,
            updated_at=updated_at,
            capture=capture,
            amount_refunded=amount_refunded,
            payment_description=payment_description,
            failure_reason=failure_reason,
            hold_expires_at=hold_expires_at,
            amount_captured=amount_captured,
        )

        payment.additional_properties = d
        return payment

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
