"""The retry rule of docs/api.md, in one place, as an httpx transport. A
request is sent again only when the server says nothing was recorded (429
`rate_limited` with `Retry-After`, 503 `overloaded`, a connection that was
never made), or when the outcome is unknown (503 `timeout`, a connection
dropped or timed out after the request left) *and* a replay cannot record it
twice: a read, a metadata change, a delete, a create carrying its
`Idempotency-Key`, a batch whose every item carries its `idempotency_key`.
Everything else is answered as it came."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass

import httpx

from .errors import parse_retry_after


@dataclass(frozen=True)
class RetryPolicy:
    #: Attempts in all, the first included.
    max_attempts: int = 4
    #: First backoff in seconds, doubled each time, with jitter.
    base_delay: float = 0.1
    #: Longest wait between attempts, a server's `Retry-After` included.
    max_delay: float = 10.0
    #: Each attempt's own time limit in seconds.
    timeout: float = 30.0


_REPLAY_SAFE_METHODS = {"GET", "HEAD", "PUT", "PATCH", "DELETE"}
# Errors that mean the request never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have arrived: the answer is what went missing.
_UNKNOWN = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


def replay_safe(request: httpx.Request) -> bool:
    """Whether sending `request` twice records it once: see the module docstring."""
    if request.method in _REPLAY_SAFE_METHODS or "idempotency-key" in request.headers:
        return True
    if request.method == "POST" and request.url.path.endswith("/payments/batch"):
        try:
            items = json.loads(request.content)["payments"]
            return bool(items) and all(isinstance(i, dict) and i.get("idempotency_key") for i in items)
        except (ValueError, KeyError, TypeError):
            return False
    return False


def _outcome(response: httpx.Response) -> str:
    if response.status_code not in (429, 503):
        return "answered"
    response.read()
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "answered"
    if response.status_code == 429 and code == "rate_limited" and "retry-after" in response.headers:
        return "not_recorded"
    if code == "overloaded":
        return "not_recorded"
    if code == "timeout":
        return "unknown"
    return "answered"


class RetryingTransport(httpx.BaseTransport):
    """Wraps a transport (default: httpx's own) with the rule above."""

    def __init__(self, policy: RetryPolicy = RetryPolicy(), inner: httpx.BaseTransport | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpx.HTTPTransport()

    def _backoff(self, attempt: int, retry_after: int | None) -> float:
        if retry_after is not None:
            return min(float(retry_after), self.policy.max_delay)
        exp = min(self.policy.base_delay * 2 ** (attempt - 1), self.policy.max_delay)
        return exp / 2 + random.random() * exp / 2

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        safe = replay_safe(request)
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.policy.max_attempts
            try:
                response = self.inner.handle_request(request)
            except _NOT_SENT:
                if last:
                    raise
                time.sleep(self._backoff(attempt, None))
                continue
            except _UNKNOWN:
                if last or not safe:
                    raise
                time.sleep(self._backoff(attempt, None))
                continue
            outcome = _outcome(response)
            if last or outcome == "answered" or (outcome == "unknown" and not safe):
                return response
            response.close()
            time.sleep(self._backoff(attempt, parse_retry_after(response.headers.get("retry-after"))))

    def close(self) -> None:
        self.inner.close()
