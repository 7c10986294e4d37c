from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.metadata_patch import MetadataPatch


T = TypeVar("T", bound="UpdateMetadata")


@_attrs_define
class UpdateMetadata:
    """`PATCH` bodies of a payment: the metadata change and nothing else.

    Attributes:
        metadata (MetadataPatch):
    """

    metadata: MetadataPatch

    def to_dict(self) -> dict[str, Any]:
        metadata = self.metadata.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "metadata": metadata,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.metadata_patch import MetadataPatch

        d = dict(src_dict)
        metadata = MetadataPatch.from_dict(d.pop("metadata"))

        update_metadata = cls(
            metadata=metadata,
        )

        return update_metadata
