import datetime
from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error import Error
from ...models.metadata import Metadata
from ...models.payment_page import PaymentPage
from ...models.payment_status import PaymentStatus
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    account: UUID | Unset = UNSET,
    status: PaymentStatus | Unset = UNSET,
    created_gte: datetime.datetime | Unset = UNSET,
    created_lt: datetime.datetime | Unset = UNSET,
    metadata: Metadata | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_account: str | Unset = UNSET
    if not isinstance(account, Unset):
        json_account = str(account)
    params["account"] = json_account

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    json_created_gte: str | Unset = UNSET
    if not isinstance(created_gte, Unset):
        json_created_gte = created_gte.isoformat()
    params["created_gte"] = json_created_gte

    json_created_lt: str | Unset = UNSET
    if not isinstance(created_lt, Unset):
        json_created_lt = created_lt.isoformat()
    params["created_lt"] = json_created_lt

    json_metadata: dict[str, Any] | Unset = UNSET
    if not isinstance(metadata, Unset):
        json_metadata = metadata.to_dict()
    if not isinstance(json_metadata, Unset):
        params.update(json_metadata)

    params["limit"] = limit

    json_cursor: str | Unset = UNSET
    if not isinstance(cursor, Unset):
        json_cursor = str(cursor)
    params["cursor"] = json_cursor

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/payments",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Error | PaymentPage | None:
    if response.status_code == 200:
        response_200 = PaymentPage.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Error.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Error.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Error.from_dict(response.json())

        return response_403

    if response.status_code == 408:
        response_408 = Error.from_dict(response.json())

        return response_408

    if response.status_code == 413:
        response_413 = Error.from_dict(response.json())

        return response_413

    if response.status_code == 429:
        response_429 = Error.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = Error.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = Error.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Error | PaymentPage]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    account: UUID | Unset = UNSET,
    status: PaymentStatus | Unset = UNSET,
    created_gte: datetime.datetime | Unset = UNSET,
    created_lt: datetime.datetime | Unset = UNSET,
    metadata: Metadata | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
) -> Response[Error | PaymentPage]:
    """Payments that pass every filter given, newest first.

    Args:
        account (UUID | Unset): An account's id.
        status (PaymentStatus | Unset): A payment's state. `pending` moves to exactly one of the
            terminal states,
            or (a manual capture) to `authorized`, which moves to exactly one of
            `done` (captured), `voided`, `expired` (or `failed` should the payee's
            balance be unable to take the capture).
        created_gte (datetime.datetime | Unset):
        created_lt (datetime.datetime | Unset):
        metadata (Metadata | Unset):
        limit (int | Unset):
        cursor (UUID | Unset): A payment's id.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | PaymentPage]
    """

    kwargs = _get_kwargs(
        account=account,
        status=status,
        created_gte=created_gte,
        created_lt=created_lt,
        metadata=metadata,
        limit=limit,
        cursor=cursor,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    account: UUID | Unset = UNSET,
    status: PaymentStatus | Unset = UNSET,
    created_gte: datetime.datetime | Unset = UNSET,
    created_lt: datetime.datetime | Unset = UNSET,
    metadata: Metadata | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
) -> Error | PaymentPage | None:
    """Payments that pass every filter given, newest first.

    Args:
        account (UUID | Unset): An account's id.
        status (PaymentStatus | Unset): A payment's state. `pending` moves to exactly one of the
            terminal states,
            or (a manual capture) to `authorized`, which moves to exactly one of
            `done` (captured), `voided`, `expired` (or `failed` should the payee's
            balance be unable to take the capture).
        created_gte (datetime.datetime | Unset):
        created_lt (datetime.datetime | Unset):
        metadata (Metadata | Unset):
        limit (int | Unset):
        cursor (UUID | Unset): A payment's id.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | PaymentPage
    """

    return sync_detailed(
        client=client,
        account=account,
        status=status,
        created_gte=created_gte,
        created_lt=created_lt,
        metadata=metadata,
        limit=limit,
        cursor=cursor,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    account: UUID | Unset = UNSET,
    status: PaymentStatus | Unset = UNSET,
    created_gte: datetime.datetime | Unset = UNSET,
    created_lt: datetime.datetime | Unset = UNSET,
    metadata: Metadata | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
) -> Response[Error | PaymentPage]:
    """Payments that pass every filter given, newest first.

    Args:
        account (UUID | Unset): An account's id.
        status (PaymentStatus | Unset): A payment's state. `pending` moves to exactly one of the
            terminal states,
            or (a manual capture) to `authorized`, which moves to exactly one of
            `done` (captured), `voided`, `expired` (or `failed` should the payee's
            balance be unable to take the capture).
        created_gte (datetime.datetime | Unset):
        created_lt (datetime.datetime | Unset):
        metadata (Metadata | Unset):
        limit (int | Unset):
        cursor (UUID | Unset): A payment's id.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | PaymentPage]
    """

    kwargs = _get_kwargs(
        account=account,
        status=status,
        created_gte=created_gte,
        created_lt=created_lt,
        metadata=metadata,
        limit=limit,
        cursor=cursor,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    account: UUID | Unset = UNSET,
    status: PaymentStatus | Unset = UNSET,
    created_gte: datetime.datetime | Unset = UNSET,
    created_lt: datetime.datetime | Unset = UNSET,
    metadata: Metadata | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
) -> Error | PaymentPage | None:
    """Payments that pass every filter given, newest first.

    Args:
        account (UUID | Unset): An account's id.
        status (PaymentStatus | Unset): A payment's state. `pending` moves to exactly one of the
            terminal states,
            or (a manual capture) to `authorized`, which moves to exactly one of
            `done` (captured), `voided`, `expired` (or `failed` should the payee's
            balance be unable to take the capture).
        created_gte (datetime.datetime | Unset):
        created_lt (datetime.datetime | Unset):
        metadata (Metadata | Unset):
        limit (int | Unset):
        cursor (UUID | Unset): A payment's id.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | PaymentPage
    """

    return (
        await asyncio_detailed(
            client=client,
            account=account,
            status=status,
            created_gte=created_gte,
            created_lt=created_lt,
            metadata=metadata,
            limit=limit,
            cursor=cursor,
        )
    ).parsed
