from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="LedgerHead")


@_attrs_define
class LedgerHead:
    """The head of the ledger's hash chain.

    Attributes:
        checkpoint_id (int): The audit checkpoint it is the hash of.
        last_entry_id (int): Every ledger entry up to this id is chained.
        hash_ (str): SHA-256 (HMAC-SHA-256 under `AUDIT_CHECKPOINT_KEY`), hex: over the
            checkpoint, the previous head and every entry since it.
        created_at (datetime.datetime): When the checkpoint was made.
    """

    checkpoint_id: int
    last_entry_id: int
    hash_: str
    created_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        checkpoint_id = self.checkpoint_id

        last_entry_id = self.last_entry_id

        hash_ = self.hash_

        created_at = self.created_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "checkpoint_id": checkpoint_id,
                "last_entry_id": last_entry_id,
                "hash": hash_,
                "created_at": created_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        checkpoint_id = d.pop("checkpoint_id")

        last_entry_id = d.pop("last_entry_id")

        hash_ = d.pop("hash")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        ledger_head = cls(
            checkpoint_id=checkpoint_id,
            last_entry_id=last_entry_id,
            hash_=hash_,
            created_at=created_at,
        )

        ledger_head.additional_properties = d
        return ledger_head

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
