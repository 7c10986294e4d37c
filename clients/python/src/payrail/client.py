"""`Payrail`: the generated calls (openapi-python-client over
docs/openapi.json, in `payrail._api`) with what every integrator would
otherwise write: an `Idempotency-Key` per logical request, reused by each
retry (the transport of `retry.py`); errors raised as `PayrailError`; list
endpoints as iterators; waiting for a payment to settle. Bodies and answers
are the generated models (`payrail.models`); `client.api` is the generated
`AuthenticatedClient`, for the generated functions themselves."""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, TypeVar
from uuid import UUID

import attrs
import httpx

from ._api.api.accounts import (
    create_account,
    get_account,
    get_account_balance_at,
    get_account_statement,
    list_account_entries,
    list_account_payments,
    search_accounts,
    update_account_metadata,
)
from ._api.api.events import get_event, list_events
from ._api.api.ledger import get_ledger_head
from ._api.api.payments import (
    capture_payment,
    create_payment,
    create_payment_batch,
    get_payment,
    search_payments,
    update_payment_metadata,
    void_payment,
)
from ._api.api.refunds import create_refund, get_refund
from ._api.api.webhooks import (
    create_webhook_endpoint,
    delete_webhook_endpoint,
    list_delivery_attempts,
    list_webhook_endpoints,
    rotate_webhook_secret,
)
from ._api.client import AuthenticatedClient
from ._api.models import (
    Account,
    BalanceAt,
    BatchRequest,
    BatchResponse,
    CaptureRequest,
    CreateAccount,
    CreatedWebhookEndpoint,
    CreateEndpoint,
    CreatePayment,
    CreateRefund,
    DeliveryAttempt,
    LedgerEntry,
    Event,
    LedgerHead,
    Metadata,
    MetadataPatch,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    RotatedSecret,
    Statement,
    UpdateAccount,
    UpdateMetadata,
    WebhookEndpoint,
)
from .errors import PayrailError, PayrailTimeoutError
from .retry import RetryingTransport, RetryPolicy

T = TypeVar("T")

#: Statuses a payment never leaves (docs/api.md, "Holds, captures and refunds").
TERMINAL_PAYMENT_STATUSES = frozenset({PaymentStatus.DONE, PaymentStatus.FAILED, PaymentStatus.VOIDED, PaymentStatus.EXPIRED})


def _deep_object(metadata: dict[str, str] | None) -> Metadata | None:
    """`metadata[KEY]=VALUE` query pairs. The document says `style: deepObject`,
    which openapi-python-client does not implement (it sends `KEY=VALUE`, a
    filter the server refuses as unknown): the keys are bracketed here, and
    the generated code sends them as they are."""
    if metadata is None:
        return None
    pairs = Metadata()
    pairs.additional_properties = {f"metadata[{k}]": v for k, v in metadata.items()}
    return pairs


def _given(**kwargs: Any) -> dict[str, Any]:
    """The arguments given: the generated functions take `UNSET`, not `None`, for absent ones."""
    return {k: v for k, v in kwargs.items() if v is not None}


class Payrail:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        retry: RetryPolicy = RetryPolicy(),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`base_url` is where the API is (e.g. `http://127.0.0.1:8080`, no
        `/api/v1`), `token` one of `API_TOKENS`; `transport` the httpx
        transport under the retries (tests, proxies)."""
        self.api = AuthenticatedClient(
            base_url=base_url.rstrip("/"),
            token=token,
            timeout=httpx.Timeout(retry.timeout),
            httpx_args={"transport": RetryingTransport(retry, transport)},
        )

    def close(self) -> None:
        self.api.get_httpx_client().close()

    def __enter__(self) -> Payrail:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, operation: ModuleType, *args: Any, **kwargs: Any) -> Any:
        """One generated operation: its request as generated, its success parsed
        by the generated code, any other answer raised as `PayrailError`."""
        response = self.api.get_httpx_client().request(**operation._get_kwargs(*args, **kwargs))
        if not response.is_success:
            raise PayrailError.from_response(response)
        return operation._build_response(client=self.api, response=response).parsed

    # Accounts
    def create_account(self, body: CreateAccount | None = None, *, idempotency_key: str | None = None) -> Account:
        return self._call(create_account, body=body or CreateAccount(), idempotency_key=idempotency_key or str(uuid.uuid4()))

    def get_account(self, id: UUID | str) -> Account:
        return self._call(get_account, UUID(str(id)))

    def update_account_metadata(self, id: UUID | str, patch: dict[str, str | None]) -> Account:
        return self._call(update_account_metadata, UUID(str(id)), body=UpdateAccount(metadata=MetadataPatch.from_dict(patch)))

    def set_credit_limit(self, id: UUID | str, credit_limit: str) -> Account:
        """How far below zero the account's balance may go (the `issue` scope); refused with
        `credit_limit_below_used` below the credit the account already uses."""
        return self._call(update_account_metadata, UUID(str(id)), body=UpdateAccount(credit_limit=credit_limit))

    # Payments
    def create_payment(self, body: CreatePayment, *, idempotency_key: str | None = None) -> Payment:
        """`POST /api/v1/payment`: the payment as recorded, `pending`."""
        return self._call(create_payment, body=body, idempotency_key=idempotency_key or str(uuid.uuid4()))

    def get_payment(self, id: UUID | str) -> Payment:
        return self._call(get_payment, UUID(str(id)))

    def update_payment_metadata(self, id: UUID | str, patch: dict[str, str | None]) -> Payment:
        return self._call(update_payment_metadata, UUID(str(id)), body=UpdateMetadata(metadata=MetadataPatch.from_dict(patch)))

    def create_payment_batch(self, body: BatchRequest, *, idempotency_key: str | None = None) -> BatchResponse:
        """`POST /api/v1/payments/batch`. Items without an `idempotency_key` get
        one (`<batch key>-<index>`), so a retry of the whole batch replays what
        was recorded instead of recording it again; in an atomic batch the keys
        are then all new, or all replays, as the server asks."""
        key = idempotency_key or str(uuid.uuid4())
        keyed = [item if item.idempotency_key else attrs.evolve(item, idempotency_key=f"{key}-{i}") for i, item in enumerate(body.payments)]
        return self._call(create_payment_batch, body=attrs.evolve(body, payments=keyed))

    def capture_payment(self, id: UUID | str, body: CaptureRequest | None = None) -> Payment:
        """Not keyed by the API: retried only where nothing was recorded."""
        return self._call(capture_payment, UUID(str(id)), body=body or CaptureRequest())

    def void_payment(self, id: UUID | str) -> Payment:
        return self._call(void_payment, UUID(str(id)))

    # Refunds
    def create_refund(self, payment_id: UUID | str, body: CreateRefund | None = None, *, idempotency_key: str | None = None) -> Refund:
        return self._call(
            create_refund, UUID(str(payment_id)), body=body or CreateRefund(), idempotency_key=idempotency_key or str(uuid.uuid4())
        )

    def get_refund(self, id: UUID | str) -> Refund:
        return self._call(get_refund, UUID(str(id)))

    # Events and webhooks
    def get_event(self, id: UUID | str) -> Event:
        return self._call(get_event, UUID(str(id)))

    def get_ledger_head(self) -> LedgerHead:
        """The head of the hash chain over the ledger: keep it, and compare it later."""
        return self._call(get_ledger_head)

    def create_webhook_endpoint(self, body: CreateEndpoint) -> CreatedWebhookEndpoint:
        return self._call(create_webhook_endpoint, body=body)

    def rotate_webhook_secret(self, id: UUID | str) -> RotatedSecret:
        return self._call(rotate_webhook_secret, UUID(str(id)))

    def delete_webhook_endpoint(self, id: UUID | str) -> None:
        self._call(delete_webhook_endpoint, UUID(str(id)))

    # Lists, as iterators over every page
    def payments(self, *, metadata: dict[str, str] | None = None, **filters: Any) -> Iterator[Payment]:
        """Every payment that passes the filters of `GET /api/v1/payments`
        (`account`, `status`, `created_gte`, `created_lt`, `metadata`, `limit`),
        newest first."""
        query = _given(metadata=_deep_object(metadata), **filters)
        return self._paged(lambda cursor: self._call(search_payments, **query, **_given(cursor=cursor)), "payments", "next_cursor")

    def account_payments(self, id: UUID | str, **filters: Any) -> Iterator[Payment]:
        return self._paged(
            lambda cursor: self._call(list_account_payments, UUID(str(id)), **_given(cursor=cursor, **filters)), "payments", "next_cursor"
        )

    def accounts(self, *, metadata: dict[str, str] | None = None, **filters: Any) -> Iterator[Account]:
        """Every account that passes the filters (`currency`, `metadata`, `limit`), newest first."""
        query = _given(metadata=_deep_object(metadata), **filters)
        return self._paged(lambda cursor: self._call(search_accounts, **query, **_given(cursor=cursor)), "accounts", "next_cursor")

    def account_entries(self, id: UUID | str, *, order: str | None = None, limit: int | None = None) -> Iterator[LedgerEntry]:
        """The account's ledger entries with the balance after each, oldest
        first (`order="desc"`: newest first), page after page (keyset on the
        entry id, so pages stay stable while new entries arrive)."""
        return self._paged(
            lambda after: self._call(list_account_entries, UUID(str(id)), **_given(after=after, order=order, limit=limit)),
            "entries",
            "next_after",
            cursor_type=int,
        )

    def balance_at(self, id: UUID | str, at: datetime.datetime) -> BalanceAt:
        """The account's balance, held and available amounts at the instant
        `at` (timezone-aware; available with today's credit limit); a
        `PayrailError` with status 404 when the account was opened after it."""
        if at.tzinfo is None:
            raise ValueError("balance_at needs a timezone-aware instant")
        return self._call(get_account_balance_at, UUID(str(id)), at=at)

    def statement(self, id: UUID | str, *, from_: datetime.date | None = None, to: datetime.date | None = None) -> Statement:
        """Per-day totals and closing balances (UTC days; the API's default is the last 30)."""
        return self._call(get_account_statement, UUID(str(id)), **_given(from_=from_, to=to))

    def webhook_endpoints(self, **filters: Any) -> Iterator[WebhookEndpoint]:
        return self._paged(
            lambda cursor: self._call(list_webhook_endpoints, **_given(cursor=cursor, **filters)), "webhook_endpoints", "next_cursor"
        )

    def delivery_attempts(self, endpoint_id: UUID | str, **filters: Any) -> Iterator[DeliveryAttempt]:
        return self._paged(
            lambda cursor: self._call(list_delivery_attempts, UUID(str(endpoint_id)), **_given(cursor=cursor, **filters)),
            "attempts",
            "next_cursor",
        )

    def events(self, *, after: UUID | str | None = None, limit: int | None = None) -> Iterator[Event]:
        """The events feed in id order after `after` (from the first without it),
        until a page comes back empty: the feed's present end. Call again with
        the last id seen to go on (re-reading a few seconds back, see docs/api.md)."""
        start = UUID(str(after)) if after is not None else None
        return self._paged(
            lambda cursor: self._call(list_events, **_given(after=cursor or start, limit=limit)), "events", "next_after"
        )

    def _paged(
        self, page: Callable[[Any], Any], items: str, next_field: str, *, cursor_type: type = UUID
    ) -> Iterator[Any]:
        """Pages until one is empty or has no next cursor: an id, or (`cursor_type=int`) a ledger entry's id."""
        cursor: Any = None
        while True:
            answer = page(cursor)
            got = getattr(answer, items)
            yield from got
            nxt = getattr(answer, next_field)
            if not got or not isinstance(nxt, cursor_type):
                return
            cursor = nxt

    # Waiting
    def wait_until_terminal(
        self,
        payment_id: UUID | str,
        timeout: float = 30.0,
        *,
        until: frozenset[PaymentStatus] = TERMINAL_PAYMENT_STATUSES,
        interval: float = 0.1,
    ) -> Payment:
        """The payment once its status is in `until` (default: terminal),
        polling every `interval` seconds; `PayrailTimeoutError` after `timeout`."""
        return self._wait(lambda: self.get_payment(payment_id), lambda p: p.status in until, str(payment_id), timeout, interval)

    def wait_until_refund_terminal(self, refund_id: UUID | str, timeout: float = 30.0, *, interval: float = 0.1) -> Refund:
        """The refund once it is `done` or `failed`."""
        return self._wait(
            lambda: self.get_refund(refund_id), lambda r: r.status != RefundStatus.PENDING, str(refund_id), timeout, interval
        )

    @staticmethod
    def _wait(read: Callable[[], T], done: Callable[[T], bool], id: str, timeout: float, interval: float) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = read()
            if done(value):
                return value
            if time.monotonic() >= deadline:
                raise PayrailTimeoutError(id, str(getattr(value, "status", "?")), timeout)
            time.sleep(interval)
