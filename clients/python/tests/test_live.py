"""The client against a live `payment-app all` (scripts/clients-test starts
it): every call here is one an integrator makes."""

from __future__ import annotations

import hashlib
import datetime
import hmac
import time
import uuid
from uuid import UUID

import pytest
from conftest import DroppingProxy, Receiver, Server, unknown_v7

from payrail import Payrail, PayrailError, WebhookVerificationError, verify
from payrail.models import (
    BatchItem,
    BatchRequest,
    Capture,
    CaptureRequest,
    CreateAccount,
    CreateEndpoint,
    CreatePayment,
    CreateRefund,
    Currency,
    ErrorCode,
    EventType,
    Metadata,
    Payment,
    PaymentStatus,
    SubscribedType,
)


def funded(client: Payrail, balance: str = "100.00") -> UUID:
    return client.create_account(CreateAccount(initial_balance=balance)).id


def empty(client: Payrail) -> UUID:
    return client.create_account().id


def pay(client: Payrail, a: UUID, b: UUID, amount: str, **kw) -> Payment:
    return client.create_payment(CreatePayment(from_account=a, to_account=b, amount=amount, **kw))


def test_accounts_with_and_without_an_initial_balance_by_scope(client: Payrail, pay_only: Payrail) -> None:
    rich = client.create_account(CreateAccount(initial_balance="100.00", metadata=Metadata.from_dict({"owner": "py"})))
    assert rich.balance == "100.00"
    assert rich.metadata["owner"] == "py"
    account = pay_only.create_account()
    assert account.balance == "0.00"
    assert client.get_account(account.id).id == account.id


def test_pay_wait_until_done_refund(client: Payrail) -> None:
    a, b = funded(client), empty(client)
    accepted = pay(client, a, b, "30.00")
    assert accepted.status == PaymentStatus.PENDING
    done = client.wait_until_terminal(accepted.id, 30)
    assert done.status == PaymentStatus.DONE
    assert client.get_account(b).balance == "30.00"

    refund = client.create_refund(done.id, CreateRefund(amount="10.00", reason="damaged"))
    assert client.wait_until_refund_terminal(refund.id).status == "done"
    assert client.get_account(a).balance == "80.00"
    assert client.get_payment(done.id).amount_refunded == "10.00"


def test_an_accounts_entries_its_balance_at_an_instant_and_its_statement(client: Payrail) -> None:
    a, b = funded(client), empty(client)
    opened = client.get_account(a).created_at
    client.wait_until_terminal(pay(client, a, b, "30.00").id, 30)
    client.wait_until_terminal(pay(client, a, b, "5.00").id, 30)

    entries = list(client.account_entries(a, limit=1))  # a page per entry: the iterator follows next_after
    assert [(e.kind, e.amount, e.balance_after) for e in entries] == [
        ("issuance", "100.00", "100.00"),
        ("debit", "-30.00", "70.00"),
        ("debit", "-5.00", "65.00"),
    ]
    newest_first = list(client.account_entries(a, order="desc"))
    assert [e.id for e in newest_first] == [e.id for e in reversed(entries)]

    now = client.balance_at(a, datetime.datetime.now(datetime.timezone.utc))
    assert (now.balance, now.held, now.available_balance) == ("65.00", "0.00", "65.00")
    assert client.balance_at(a, entries[1].created_at).balance == "70.00"
    with pytest.raises(PayrailError) as before:
        client.balance_at(a, opened - datetime.timedelta(hours=1))
    assert before.value.status == 404
    with pytest.raises(ValueError):
        client.balance_at(a, datetime.datetime.now())

    statement = client.statement(b)
    assert statement.account_id == b


def test_hold_and_capture_part_of_it(client: Payrail) -> None:
    a, b = funded(client), empty(client)
    hold = pay(client, a, b, "70.00", capture=Capture.MANUAL)
    client.wait_until_terminal(hold.id, until=frozenset({PaymentStatus.AUTHORIZED}))
    assert client.get_account(a).available_balance == "30.00"
    held = client.balance_at(a, datetime.datetime.now(datetime.timezone.utc))
    assert (held.balance, held.held, held.available_balance) == ("100.00", "70.00", "30.00")
    client.capture_payment(hold.id, CaptureRequest(amount="25.00"))
    captured = client.wait_until_terminal(hold.id)
    assert (captured.status, captured.amount_captured) == (PaymentStatus.DONE, "25.00")
    payer = client.get_account(a)
    assert (payer.balance, payer.available_balance) == ("75.00", "75.00")


def test_credit_spends_below_zero_and_a_limit_below_what_is_used_is_refused(client: Payrail) -> None:
    a, b = client.create_account(CreateAccount(credit_limit="20.00")).id, empty(client)
    assert client.wait_until_terminal(pay(client, a, b, "15.00").id, 30).status == PaymentStatus.DONE
    payer = client.get_account(a)
    assert (payer.balance, payer.available_balance, payer.credit_limit) == ("-15.00", "5.00", "20.00")
    with pytest.raises(PayrailError) as refused:
        client.set_credit_limit(a, "14.99")
    assert refused.value.code == ErrorCode.CREDIT_LIMIT_BELOW_USED
    assert client.set_credit_limit(a, "15.00").available_balance == "0.00"


def test_the_ledger_head_is_not_found_before_an_audit_chains_it(client: Payrail) -> None:
    with pytest.raises(PayrailError) as missing:
        client.get_ledger_head()
    assert (missing.value.status, missing.value.code) == (404, ErrorCode.NOT_FOUND)


def test_an_atomic_batch_settles_all_or_none(client: Payrail) -> None:
    a, merchant, fee = funded(client), empty(client), empty(client)
    batch = client.create_payment_batch(
        BatchRequest(
            atomic=True,
            payments=[
                BatchItem(from_account=a, to_account=merchant, amount="97.00"),
                BatchItem(from_account=a, to_account=fee, amount="3.00"),
            ],
        )
    )
    assert [r.status for r in batch.results] == [202, 202]
    assert [client.wait_until_terminal(r.payment.id).status for r in batch.results] == ["done", "done"]

    # Over the balance together: neither applies.
    over = client.create_payment_batch(
        BatchRequest(
            atomic=True,
            payments=[BatchItem(from_account=merchant, to_account=fee, amount="90.00") for _ in range(2)],
        )
    )
    assert [client.wait_until_terminal(r.payment.id).status for r in over.results] == ["failed", "failed"]
    assert client.get_account(merchant).balance == "97.00"


def test_page_through_events_and_filtered_lists(client: Payrail) -> None:
    a, b = funded(client), empty(client)
    order = str(uuid.uuid4())
    ids = []
    for _ in range(3):
        p = pay(client, a, b, "1.00", metadata=Metadata.from_dict({"order": order}))
        ids.append(client.wait_until_terminal(p.id).id)
    pay(client, a, b, "1.00", metadata=Metadata.from_dict({"order": "other"}))

    # Newest first, one per page: three pages, nothing else.
    listed = [p.id for p in client.payments(account=a, status=PaymentStatus.DONE, metadata={"order": order}, limit=1)]
    assert listed == ids[::-1]
    accounts = [acc.id for acc in client.accounts(currency=Currency.USD, limit=2)]
    assert a in accounts and b in accounts

    # The feed, two at a time, in id order, holds each payment's created and done events
    # (beside other kinds: an account's credit limit changes have no payment).
    seen: dict[UUID, list[str]] = {}
    last = UUID(int=0)
    for e in client.events(limit=2):
        assert e.id > last, "events come in id order"
        last = e.id
        if isinstance(e.data, Payment) and e.data.id in ids:
            seen.setdefault(e.data.id, []).append(e.type_)
    assert all(seen[i] == [EventType.PAYMENT_CREATED, EventType.PAYMENT_DONE] for i in ids)


def test_a_payment_retried_after_a_dropped_connection_is_recorded_once(client: Payrail, server: Server) -> None:
    a, b = funded(client), empty(client)
    proxy = DroppingProxy(server.url, drops=1)
    try:
        with Payrail(proxy.url, server.admin_token) as via_proxy:
            payment = pay(via_proxy, a, b, "5.00")
        assert proxy.connections == 2, "the first answer was dropped and the request sent again"
        assert [p.id for p in client.account_payments(a)] == [payment.id]
        assert client.wait_until_terminal(payment.id).status == "done"
        assert client.get_account(a).balance == "95.00"
    finally:
        proxy.close()


def test_a_delivered_webhook_verifies_and_tampered_stale_or_wrongly_keyed_ones_do_not(client: Payrail) -> None:
    hooks = Receiver()
    try:
        endpoint = client.create_webhook_endpoint(CreateEndpoint(url=hooks.url, events=[SubscribedType.PAYMENT_DONE]))
        a, b = funded(client), empty(client)
        p = pay(client, a, b, "2.00")
        delivery = hooks.next(lambda d: str(p.id).encode() in d.body)

        event = verify(delivery.body, delivery.signature, endpoint.secret)
        assert event.type_ == EventType.PAYMENT_DONE
        assert str(event.id) == delivery.event_id
        assert isinstance(event.data, Payment) and event.data.id == p.id

        def refused(reason: str, *args) -> None:
            with pytest.raises(WebhookVerificationError) as e:
                verify(*args)
            assert e.value.reason == reason

        tampered = delivery.body.replace(b'"2.00"', b'"2000.00"')
        assert tampered != delivery.body
        refused("signature_mismatch", tampered, delivery.signature, endpoint.secret)
        refused("signature_mismatch", delivery.body, delivery.signature, "whsec_" + "0" * 64)
        # The same body, signed correctly ten minutes ago: a replay.
        old = int(time.time()) - 600
        mac = hmac.new(endpoint.secret.encode(), f"{old}.".encode() + delivery.body, hashlib.sha256).hexdigest()
        refused("stale_timestamp", delivery.body, f"t={old},v1={mac}", endpoint.secret)

        # During a rotation the server signs with both secrets: either verifies.
        rotated = client.rotate_webhook_secret(endpoint.id)
        p2 = pay(client, a, b, "3.00")
        second = hooks.next(lambda d: str(p2.id).encode() in d.body)
        assert second.signature.count("v1=") == 2
        verify(second.body, second.signature, endpoint.secret)
        verify(second.body, second.signature, rotated.secret)
        verify(second.body, second.signature, ["whsec_unrelated", rotated.secret])

        assert endpoint.id in [e.id for e in client.webhook_endpoints(limit=1)]
        # An attempt is recorded once its answer is in: the receiver may see
        # the second delivery a moment before its row is written. (Other
        # payments' events may come to this endpoint too: only ours count.)
        ours = {delivery.event_id, second.event_id}
        deadline = time.monotonic() + 10
        while True:
            attempts = {str(at.event_id): at.status_code for at in client.delivery_attempts(endpoint.id, limit=1)}
            if ours <= attempts.keys() or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert {e: attempts.get(e) for e in ours} == {e: 200 for e in ours}
        client.delete_webhook_endpoint(endpoint.id)
    finally:
        hooks.close()


def test_403_404_and_422_come_back_as_typed_errors(client: Payrail, pay_only: Payrail) -> None:
    def refused(status: int, code: ErrorCode, call) -> None:
        with pytest.raises(PayrailError) as e:
            call()
        assert (e.value.status, e.value.code) == (status, code)
        assert e.value.message and e.value.request_id

    refused(403, ErrorCode.FORBIDDEN, lambda: pay_only.create_account(CreateAccount(initial_balance="5.00")))
    refused(404, ErrorCode.NOT_FOUND, lambda: client.get_payment(unknown_v7()))
    a = funded(client)
    refused(422, ErrorCode.SAME_ACCOUNT, lambda: pay(client, a, a, "1.00"))
