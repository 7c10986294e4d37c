"""Errors as values a caller can branch on: every non-2xx answer of the API
becomes a `PayrailError` carrying the stable `code` (the document's
`ErrorCode`), the message, the HTTP status and the request id."""

from __future__ import annotations

import httpx

from ._api.models.error_code import ErrorCode


class PayrailError(Exception):
    """An error answer: `{"error": {"code", "message"}}`, its status and `x-request-id`."""

    def __init__(
        self,
        status: int,
        code: ErrorCode | str,
        message: str,
        request_id: str | None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        #: The machine code; an `ErrorCode` unless the server is newer than this client.
        self.code = code
        self.message = message
        #: Quote it when asking about a request: the server logs it on every line.
        self.request_id = request_id
        #: `Retry-After` seconds, when sent (`rate_limited`, `overloaded`).
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, response: httpx.Response) -> PayrailError:
        """The error of an answer; a body not of the documented shape (a proxy's
        page, say) keeps its status, with `internal` as its code."""
        request_id = response.headers.get("x-request-id")
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        try:
            detail = response.json()["error"]
            code, message = detail["code"], detail["message"]
            if not isinstance(code, str) or not isinstance(message, str):
                raise TypeError(code)
        except (ValueError, KeyError, TypeError):
            return cls(response.status_code, ErrorCode.INTERNAL, f"HTTP {response.status_code} without an error body", request_id, retry_after)
        try:
            code = ErrorCode(code)
        except ValueError:
            pass  # a code this client predates: kept as the string
        return cls(response.status_code, code, message, request_id, retry_after)


class PayrailTimeoutError(Exception):
    """`wait_until_terminal` ran out of time; `last_status` is where the payment was."""

    def __init__(self, id: str, last_status: str, timeout: float) -> None:
        super().__init__(f"{id} still {last_status} after {timeout} s")
        self.id = id
        self.last_status = last_status


def parse_retry_after(value: str | None) -> int | None:
    """Seconds of a `Retry-After` in its delta-seconds form (the only one payrail sends)."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())
