"""Sign a lead for the Standard Webhooks path by hand (`leadchain sign-webhook`), e.g. for a curl.

The signature is the one a real lead source computes: `v1,<base64 HMAC-SHA256 of id.timestamp.body>` with
the source's secret, from the `standardwebhooks` library the web verifies with. The output is a curl
config (`curl -K -` reads it from stdin), so the body sent is byte for byte the body signed and the
secret never appears on a command line or in the shell history.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook


def json_problem(body: bytes) -> str | None:
    """Why `body` is not a JSON document the web would accept as a lead (it answers 400 to those), or None.

    Checked before signing: a signature over a broken body is a valid signature over a request that can
    only fail, and the web's 400 then looks like a signing problem."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"the body is not UTF-8 (byte {e.start + 1}: {body[e.start : e.start + 1]!r})"
    if not text.strip():
        return "the body is empty (give it with --data, --data-file or on stdin)"
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        return f"the body is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"
    return None


def signed_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, now: datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, signed now (the web accepts 5 minutes)."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    now = now or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
    }


def _curl_quote(value: str) -> str:
    # curl's config syntax: inside double quotes \\ \" \n \r \t are escapes; nothing else is special.
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def curl_config(url: str, headers: dict[str, str], body: bytes, content_type: str = "application/json") -> str:
    """A curl config file posting `body` with `headers` to `url` (data-raw: a leading @ is not a file)."""
    lines = [f"url = {_curl_quote(url)}", f"header = {_curl_quote('Content-Type: ' + content_type)}"]
    lines += [f"header = {_curl_quote(f'{name}: {value}')}" for name, value in headers.items()]
    lines.append(f"data-raw = {_curl_quote(body.decode('utf-8'))}")
    return "\n".join(lines) + "\n"
