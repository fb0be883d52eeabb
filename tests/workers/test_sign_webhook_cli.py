"""`leadchain sign-webhook` signs exactly the bytes it is given, from stdin or from --data-file.

Runs the installed console script as a user would (a pipe on stdin) and checks the printed headers with
the web's own verifier, so a signature over anything but the body's bytes fails here."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crm.webhooks.signature import verify_standard_webhook

LEADCHAIN = Path(sys.executable).with_name("leadchain")
SECRET = "whsec_" + base64.b64encode(b"test-key-for-the-sign-webhook-cli").decode()
# Not ASCII, oddly spaced and ending in a newline (as `echo` sends it): a re-encoded, re-serialised or
# stripped body would not verify.
BODY = '{"email":"jürgen@example.com",  "first_name":"Jürgen"}\n'.encode()


def _sign(*args: str, stdin: bytes | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADCHAIN_", "VAULT_", "BAO_"))}
    env["LEADCHAIN_SECRET_WEBHOOKS_LEADS_DEMO"] = SECRET
    done = subprocess.run(
        [str(LEADCHAIN), "sign-webhook", "--headers-only", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=True,
    )
    lines = done.stdout.decode().splitlines()
    return dict(line.split(": ", 1) for line in lines)


@pytest.mark.parametrize("source", ["stdin", "file"])
def test_the_signature_covers_the_body_bytes(source: str, tmp_path: Path) -> None:
    if source == "stdin":
        headers = _sign(stdin=BODY)
    else:
        body_file = tmp_path / "lead.json"
        body_file.write_bytes(BODY)
        headers = _sign("--data-file", str(body_file), stdin=b"")
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert verify_standard_webhook(BODY, headers, [SECRET])
    assert not verify_standard_webhook(BODY + b" ", headers, [SECRET])


def _refused(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADCHAIN_", "VAULT_", "BAO_"))}
    env["LEADCHAIN_SECRET_WEBHOOKS_LEADS_DEMO"] = SECRET
    return subprocess.run(
        [str(LEADCHAIN), "sign-webhook", *args], input=stdin, capture_output=True, env=env, timeout=60
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"email": "erika@example.com",\n "first_name": }', "not valid JSON: Expecting value at line 2, column 16"),
        (b"{'email': 'erika@example.com'}", "not valid JSON: Expecting property name enclosed in double quotes"),
        (b'{"email": "erika@example.com"', "not valid JSON: Expecting ',' delimiter at line 1, column 30"),
        (b'{"first_name": "J\xfcrgen"}', "not UTF-8 (byte 18"),
        (b"  \n", "the body is empty"),
    ],
)
def test_a_body_that_is_not_json_is_refused_with_where(body: bytes, problem: str) -> None:
    done = _refused(stdin=body)
    assert done.returncode == 2
    assert done.stdout == b""  # nothing for curl to send
    assert problem in done.stderr.decode()


def test_data_that_is_not_json_is_refused_too() -> None:
    done = _refused("--data", "email=erika@example.com")
    assert done.returncode == 2 and done.stdout == b""
    assert "not signed: the body is not valid JSON: Expecting value at line 1, column 1" in done.stderr.decode()
