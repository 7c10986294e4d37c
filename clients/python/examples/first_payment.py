"""The first payment that README.md and this package's README show: they
show this file's regions (clients/rust/tests/it/readme.rs fails when they
differ), and tests/test_examples.py runs it against the live server
scripts/clients-test starts, so what the READMEs show is what ran."""

# ANCHOR: readme
import os

from payrail import Payrail
from payrail.models import CreateAccount, CreatePayment, PaymentStatus

# ANCHOR: short
with Payrail(os.environ["PAYRAIL_URL"], os.environ["PAYRAIL_TOKEN"]) as payrail:
    a = payrail.create_account(CreateAccount(initial_balance="100.00"))  # needs the `issue` scope
    b = payrail.create_account()
    # An Idempotency-Key is made per call (or pass idempotency_key=), and every retry reuses it.
    p = payrail.create_payment(CreatePayment(from_account=a.id, to_account=b.id, amount="99.01"))
    print(payrail.wait_until_terminal(p.id, timeout=10).status)  # done
    # ANCHOR_END: short
    print(payrail.get_account(a.id).balance)  # 0.99
    for done in payrail.payments(account=a.id, status=PaymentStatus.DONE):
        print(done.id)
# ANCHOR_END: readme
