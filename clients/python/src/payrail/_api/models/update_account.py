from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.metadata_patch import MetadataPatch


T = TypeVar("T", bound="UpdateAccount")


@_attrs_define
class UpdateAccount:
    """`PATCH` bodies of an account: a metadata change (`pay`), a new credit
    limit (`issue`), or both, applied together (at least one of them).

        Attributes:
            metadata (MetadataPatch | None | Unset):
            credit_limit (None | str | Unset): The new credit limit, a decimal string in the account's currency.
                Refused with 422 `credit_limit_below_used` below the credit the
                account already uses (its balance below zero plus what it holds),
                and with 422 `issuance_limit_exceeded` past the issuance limits.
    """

    metadata: MetadataPatch | None | Unset = UNSET
    credit_limit: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.metadata_patch import MetadataPatch

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, MetadataPatch):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        credit_limit: None | str | Unset
        if isinstance(self.credit_limit, Unset):
            credit_limit = UNSET
        else:
            credit_limit = self.credit_limit

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if credit_limit is not UNSET:
            field_dict["credit_limit"] = credit_limit

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.metadata_patch import MetadataPatch

        d = dict(src_dict)

        def _parse_metadata(data: object) -> MetadataPatch | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_1 = MetadataPatch.from_dict(data)

                return metadata_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(MetadataPatch | None | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))

        def _parse_credit_limit(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        credit_limit = _parse_credit_limit(d.pop("credit_limit", UNSET))

        update_account = cls(
            metadata=metadata,
            credit_limit=credit_limit,
        )

        return update_account
