"""The first payment that the READMEs show (examples/first_payment.py, held
to them by clients/rust/tests/it/readme.rs), run by Python as a user would
run it, against the live server: it prints what the READMEs say."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_first_payment_runs_as_shown(server) -> None:
    # The example reads PAYRAIL_URL and PAYRAIL_TOKEN, the server's own.
    env = {**os.environ, "PAYRAIL_URL": server.url, "PAYRAIL_TOKEN": server.admin_token,
           "PYTHONPATH": str(ROOT / "src")}
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "first_payment.py")],
                         env=env, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 3, run.stdout
    assert lines[:2] == ["done", "0.99"], run.stdout
    assert uuid.UUID(lines[2]).version == 7, run.stdout
