from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.batch_item_result import BatchItemResult
    from ..models.error_detail import ErrorDetail


T = TypeVar("T", bound="AtomicBatchRefusal")


@_attrs_define
class AtomicBatchRefusal:
    """A batch refused whole: the error, and for `atomic_batch_refused` every
    refused item's result.

        Attributes:
            error (ErrorDetail): An error: its code, for programs, and its message, for people.
            results (list[BatchItemResult] | Unset): Present on `atomic_batch_refused` only.
    """

    error: ErrorDetail
    results: list[BatchItemResult] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        error = self.error.to_dict()

        results: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.results, Unset):
            results = []
            for results_item_data in self.results:
                results_item = results_item_data.to_dict()
                results.append(results_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "error": error,
            }
        )
        if results is not UNSET:
            field_dict["results"] = results

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.batch_item_result import BatchItemResult
        from ..models.error_detail import ErrorDetail

        d = dict(src_dict)
        error = ErrorDetail.from_dict(d.pop("error"))

        _results = d.pop("results", UNSET)
        results: list[BatchItemResult] | Unset = UNSET
        if _results is not UNSET:
            results = []
            for results_item_data in _results:
                results_item = BatchItemResult.from_dict(results_item_data)

                results.append(results_item)

        atomic_batch_refusal = cls(
            error=error,
            results=results,
        )

        atomic_batch_refusal.additional_properties = d
        return atomic_batch_refusal

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
