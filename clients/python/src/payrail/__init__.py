"""payrail's Python client: see README.md. `Payrail` is the client, its
models are `payrail.models` (generated from docs/openapi.json), `verify`
checks a webhook delivery."""

from . import _api
from . import models
from .client import TERMINAL_PAYMENT_STATUSES, Payrail
from .errors import PayrailError, PayrailTimeoutError
from .retry import RetryingTransport, RetryPolicy
from .webhooks import WebhookVerificationError, verify

__all__ = [
    "TERMINAL_PAYMENT_STATUSES",
    "Payrail",
    "PayrailError",
    "PayrailTimeoutError",
    "RetryPolicy",
    "RetryingTransport",
    "WebhookVerificationError",
    "models",
    "verify",
    "_api",
]
