"""`verify` on its own: the server's signing test vector
(payment-app/src/webhooks/sign.rs) and the header's edge cases."""

from __future__ import annotations

import pytest

from payrail import WebhookVerificationError, verify

V1 = "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
AT = 1_700_000_000
BODY = b'{"a":1}'


def reason(*args, **kw) -> str:
    try:
        verify(*args, **kw)
    except WebhookVerificationError as e:
        return e.reason
    return "accepted"


def test_the_server_vector_verifies_within_the_tolerance_either_side() -> None:
    # The vector's body is no event: the signature passes, the body is refused as one.
    assert reason(BODY, f"t={AT},v1={V1}", "whsec_test", now=AT + 300) == "malformed_body"
    assert reason(BODY, f"t={AT},v1={V1}", "whsec_test", now=AT - 300) == "malformed_body"
    assert reason(BODY, f"t={AT},v1={V1}", "whsec_test", now=AT + 301) == "stale_timestamp"


def test_any_v1_matching_any_secret_is_enough_and_none_is_not() -> None:
    header = f"t={AT},v1={'0' * 64},v1={V1}"
    assert reason(BODY, header, ["whsec_new", "whsec_test"], now=AT) == "malformed_body"
    assert reason(BODY, header, ["whsec_new"], now=AT) == "signature_mismatch"


@pytest.mark.parametrize("header", ["", f"v1={V1}", f"t={AT}", f"t=soon,v1={V1}"])
def test_a_header_without_t_or_v1_is_malformed(header: str) -> None:
    assert reason(BODY, header, "whsec_test", now=AT) == "malformed_header"
