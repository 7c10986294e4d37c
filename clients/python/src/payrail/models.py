"""The API's bodies and answers, generated from docs/openapi.json."""

from ._api.models import *  # noqa: F403
from ._api.models import __all__  # noqa: F401
