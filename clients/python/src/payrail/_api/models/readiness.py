from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="Readiness")


@_attrs_define
class Readiness:
    """
    Attributes:
        status (str): `ready`, `degraded` (working, with a dependency down) or `not_ready`.
        postgres (str):
        rabbitmq (str):
        statements (str): The statement totals: `ok`, or `stale: ...` when they have not been
            refreshed for several intervals (statements stay as of then).
        replica (None | str | Unset): The read replica, when one is configured: `ok`, or why reads go to
            the primary (`unavailable: ...`, `lagging: ...`).
        redis (None | str | Unset):
    """

    status: str
    postgres: str
    rabbitmq: str
    statements: str
    replica: None | str | Unset = UNSET
    redis: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        status = self.status

        postgres = self.postgres

        rabbitmq = self.rabbitmq

        statements = self.statements

        replica: None | str | Unset
        if isinstance(self.replica, Unset):
            replica = UNSET
        else:
            replica = self.replica

        redis: None | str | Unset
        if isinstance(self.redis, Unset):
            redis = UNSET
        else:
            redis = self.redis

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "status": status,
                "postgres": postgres,
                "rabbitmq": rabbitmq,
                "statements": statements,
            }
        )
        if replica is not UNSET:
            field_dict["replica"] = replica
        if redis is not UNSET:
            field_dict["redis"] = redis

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        status = d.pop("status")

        postgres = d.pop("postgres")

        rabbitmq = d.pop("rabbitmq")

        statements = d.pop("statements")

        def _parse_replica(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        replica = _parse_replica(d.pop("replica", UNSET))

        def _parse_redis(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        redis = _parse_redis(d.pop("redis", UNSET))

        readiness = cls(
            status=status,
            postgres=postgres,
            rabbitmq=rabbitmq,
            statements=statements,
            replica=replica,
            redis=redis,
        )

        readiness.additional_properties = d
        return readiness

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
