from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.capture import Capture
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.metadata import Metadata


T = TypeVar("T", bound="CreatePayment")


@_attrs_define
class CreatePayment:
    """The request as sent. Fields are strings so that each can be parsed into
    its domain type with an error that names it; unknown fields are refused,
    since a misspelt field in a payment is a mistake, not an extension.

        Attributes:
            from_account (UUID): The payer's account id.
            to_account (UUID): The payee's account id.
            amount (str): Decimal string above zero, with at most the accounts' currency's decimals.
            payment_description (None | str | Unset): At most 1,000 characters, without NUL.
            capture (Capture | None | Unset):
            hold_expires_in_secs (int | None | Unset): For `manual`: seconds the hold lasts once authorized, 1 to 2,592,000
                (30 days).
            metadata (Metadata | None | Unset):
    """

    from_account: UUID
    to_account: UUID
    amount: str
    payment_description: None | str | Unset = UNSET
    capture: Capture | None | Unset = UNSET
    hold_expires_in_secs: int | None | Unset = UNSET
    metadata: Metadata | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.metadata import Metadata

        from_account = str(self.from_account)

        to_account = str(self.to_account)

        amount = self.amount

        payment_description: None | str | Unset
        if isinstance(self.payment_description, Unset):
            payment_description = UNSET
        else:
            payment_description = self.payment_description

        capture: None | str | Unset
        if isinstance(self.capture, Unset):
            capture = UNSET
        elif isinstance(self.capture, Capture):
            capture = self.capture.value
        else:
            capture = self.capture

        hold_expires_in_secs: int | None | Unset
        if isinstance(self.hold_expires_in_secs, Unset):
            hold_expires_in_secs = UNSET
        else:
            hold_expires_in_secs = self.hold_expires_in_secs

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, Metadata):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "from_account": from_account,
                "to_account": to_account,
                "amount": amount,
            }
        )
        if payment_description is not UNSET:
            field_dict["payment_description"] = payment_description
        if capture is not UNSET:
            field_dict["capture"] = capture
        if hold_expires_in_secs is not UNSET:
            field_dict["hold_expires_in_secs"] = hold_expires_in_secs
        if metadata is not UNSET:
            field_dict["metadata"] = metadata

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.metadata import Metadata

        d = dict(src_dict)
        from_account = UUID(d.pop("from_account"))

        to_account = UUID(d.pop("to_account"))

        amount = d.pop("amount")

        def _parse_payment_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        payment_description = _parse_payment_description(
            d.pop("payment_description", UNSET)
        )

        def _parse_capture(data: object) -> Capture | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                capture_type_1 = Capture(data)

                return capture_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Capture | None | Unset, data)

        capture = _parse_capture(d.pop("capture", UNSET))

        def _parse_hold_expires_in_secs(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        hold_expires_in_secs = _parse_hold_expires_in_secs(
            d.pop("hold_expires_in_secs", UNSET)
        )

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

        create_payment = cls(
            from_account=from_account,
            to_account=to_account,
            amount=amount,
            payment_description=payment_description,
            capture=capture,
            hold_expires_in_secs=hold_expires_in_secs,
            metadata=metadata,
        )

        return create_payment
