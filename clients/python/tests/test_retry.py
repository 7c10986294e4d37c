"""The retry rule of `retry.py`, answer by answer, through `Payrail` with a
scripted transport under its retries: which answers are sent again, how
often, and with which `Idempotency-Key`. (The live suite drops a real
connection; these are the answers a test server cannot be made to give on
demand: 429, 503 `overloaded` and `timeout`.)"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from payrail import Payrail, PayrailError, RetryPolicy
from payrail.models import CreatePayment, ErrorCode

A, B = uuid.UUID("01930000-0000-7000-8000-000000000001"), uuid.UUID("01930000-0000-7000-8000-000000000002")
PAYMENT = {
    "id": "01930000-0000-7000-8000-0000000000aa",
    "from_account": str(A),
    "to_account": str(B),
    "amount": "1.00",
    "currency": "USD",
    "status": "pending",
    "metadata": {},
    "created_at": "2026-12-07T00:00:00Z",
    "updated_at": "2026-12-07T00:00:00Z",
    "capture": "automatic",
    "amount_refunded": "0.00",
}


def error(status: int, code: str, retry_after: str | None = None) -> httpx.Response:
    headers = {"x-request-id": "req-1"} | ({"retry-after": retry_after} if retry_after else {})
    return httpx.Response(status, json={"error": {"code": code, "message": code}}, headers=headers)


class Scripted(httpx.BaseTransport):
    """Answers (or raises) from a script, one step per request, and keeps the requests."""

    def __init__(self, *steps: httpx.Response | Exception) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def client(inner: Scripted) -> Payrail:
    return Payrail("http://payrail.test", "t" * 16, retry=RetryPolicy(max_attempts=3, base_delay=0), transport=inner)


def pay(c: Payrail):
    return c.create_payment(CreatePayment(from_account=A, to_account=B, amount="1.00"))


OK = httpx.Response(202, json=PAYMENT)
DROPPED = httpx.RemoteProtocolError("Server disconnected without sending a response.")
REFUSED = httpx.ConnectError("Connection refused")


@pytest.mark.parametrize(
    "first",
    [error(429, "rate_limited", "0"), error(503, "overloaded", "0"), error(503, "timeout"), DROPPED, REFUSED],
    ids=["rate_limited", "overloaded", "timeout", "dropped", "refused"],
)
def test_a_keyed_create_is_sent_again_with_the_same_key(first) -> None:
    inner = Scripted(first, OK)
    assert str(pay(client(inner)).id) == PAYMENT["id"]
    keys = [r.headers["idempotency-key"] for r in inner.requests]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_each_logical_request_has_its_own_key() -> None:
    inner = Scripted(OK, OK)
    c = client(inner)
    pay(c), pay(c)
    assert inner.requests[0].headers["idempotency-key"] != inner.requests[1].headers["idempotency-key"]


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (error(503, "unavailable"), ErrorCode.UNAVAILABLE),
        (error(503, "account_busy"), ErrorCode.ACCOUNT_BUSY),
        (error(429, "rate_limited"), ErrorCode.RATE_LIMITED),  # no Retry-After
        (error(422, "same_account"), ErrorCode.SAME_ACCOUNT),
    ],
)
def test_other_answers_are_not_sent_again(answer, code) -> None:
    inner = Scripted(answer)
    with pytest.raises(PayrailError) as e:
        pay(client(inner))
    assert (e.value.code, e.value.request_id, len(inner.requests)) == (code, "req-1", 1)


def test_an_unkeyed_post_is_sent_again_only_where_nothing_was_recorded() -> None:
    pid = PAYMENT["id"]
    # A capture carries no key: an unknown outcome is the caller's to judge.
    inner = Scripted(error(503, "timeout"))
    with pytest.raises(PayrailError) as e:
        client(inner).capture_payment(pid)
    assert (e.value.code, len(inner.requests)) == (ErrorCode.TIMEOUT, 1)
    inner = Scripted(DROPPED)
    with pytest.raises(httpx.RemoteProtocolError):
        client(inner).capture_payment(pid)
    assert len(inner.requests) == 1
    # Nothing recorded: sent again.
    inner = Scripted(REFUSED, error(503, "overloaded", "0"), httpx.Response(202, json=PAYMENT))
    client(inner).capture_payment(pid)
    assert len(inner.requests) == 3


def test_retries_are_bounded() -> None:
    inner = Scripted(*[error(503, "overloaded", "0")] * 3)
    with pytest.raises(PayrailError) as e:
        pay(client(inner))
    assert (e.value.code, e.value.retry_after, len(inner.requests)) == (ErrorCode.OVERLOADED, 0, 3)


def test_a_batch_is_replay_safe_once_every_item_is_keyed() -> None:
    from payrail.models import BatchItem, BatchRequest

    items = [BatchItem(from_account=A, to_account=B, amount="1.00") for _ in range(2)]
    items.append(BatchItem(from_account=A, to_account=B, amount="1.00", idempotency_key="mine"))
    inner = Scripted(DROPPED, httpx.Response(200, json={"results": []}))
    client(inner).create_payment_batch(BatchRequest(payments=items), idempotency_key="order-7")
    sent = [json.loads(r.content)["payments"] for r in inner.requests]
    assert len(sent) == 2 and sent[0] == sent[1]
    assert [i["idempotency_key"] for i in sent[0]] == ["order-7-0", "order-7-1", "mine"]
    # The caller's items are left as they were.
    assert not items[0].idempotency_key


def test_an_unkeyed_batch_is_not_sent_again_after_a_dropped_connection() -> None:
    from payrail.retry import replay_safe

    request = httpx.Request("POST", "http://payrail.test/api/v1/payments/batch", json={"payments": [{"amount": "1"}]})
    assert not replay_safe(request)
