"""Webhook verification, as the server signs (payment-app/src/webhooks/sign.rs):
`Payrail-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
one `v1=` per secret that still signs (two or more during a rotation). The
receiver checks the raw bytes, before any JSON parsing: a body re-serialized
by a framework would not match."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Sequence

from ._api.models.event import Event

_HEX64 = re.compile(r"[0-9a-f]{64}")


class WebhookVerificationError(Exception):
    """A delivery not to be trusted. `reason`: `malformed_header`,
    `stale_timestamp`, `signature_mismatch` or `malformed_body`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def verify(
    payload: bytes,
    signature_header: str,
    secrets: str | Sequence[str],
    tolerance: int = 300,
    now: float | None = None,
) -> Event:
    """The event of a delivery whose signature is good: `payload` is the raw
    body, `signature_header` the `Payrail-Signature` value, `secrets` the
    endpoint's secret or several while a rotation is under way (any secret
    matching any `v1=` is enough). `tolerance` is the largest difference in
    seconds between the signature's time and now. `event.data` is the
    `Payment` for `payment.*` types and the `Refund` for `refund.*` ones."""
    timestamp: str | None = None
    signatures: list[bytes] = []
    for part in signature_header.split(","):
        key, eq, value = part.partition("=")
        if not eq:
            continue
        key, value = key.strip(), value.strip()
        if key == "t":
            timestamp = value
        elif key == "v1" and _HEX64.fullmatch(value):
            signatures.append(bytes.fromhex(value))
    if timestamp is None or not timestamp.isdigit() or not signatures:
        raise WebhookVerificationError("malformed_header", "Payrail-Signature has no t= or no v1=")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        raise WebhookVerificationError("stale_timestamp", f"signed at {timestamp}, more than {tolerance} s from now")
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    signed = timestamp.encode() + b"." + payload
    expected = [hmac.new(k.encode(), signed, hashlib.sha256).digest() for k in keys]
    if not any(hmac.compare_digest(e, s) for e in expected for s in signatures):
        raise WebhookVerificationError("signature_mismatch", "no v1= signature matches a secret")
    try:
        return Event.from_dict(json.loads(payload))
    except (ValueError, KeyError, TypeError) as e:
        raise WebhookVerificationError("malformed_body", f"signed body is not an event: {e}") from e
