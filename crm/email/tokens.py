"""Unsubscribe tokens: the lead id signed with the app's secret key (itsdangerous), no expiry.

No expiry on purpose: an unsubscribe link in a two-year-old email must still work (RFC 8058 asks for a
link that keeps working; an objection may not be made harder). The token authorises exactly one thing,
unsubscribing that lead, so a leaked token cannot do more than the recipient's own link.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from flask import Flask, current_app
from itsdangerous import BadSignature, URLSafeSerializer

from crm import secret_names
from crm.email.settings import public_url

SALT = "leadchain.email.unsubscribe.v1"
PREVIEW_TOKEN = "preview"


def _secret_key(app: Flask) -> str | bytes:
    # app.secret_key is app/secret-key from the secrets interface (crm.create_app), or a per-process
    # random key in development, which makes old links invalid after a restart (logged there).
    key = app.extensions["leadchain.secrets"].get(secret_names.APP_SECRET_KEY) or app.secret_key
    if key is None:
        # create_app always sets one; refuse rather than sign with no key (or with the text "None").
        raise RuntimeError("no secret key to sign email links with (app/secret-key)")
    return key


def signing_key(app: Flask) -> str | bytes:
    """The key every signed email link is made with (also the appointment links, crm/email/appointment_links.py)."""
    return _secret_key(app)


def _serializer(app: Flask | None = None) -> URLSafeSerializer:
    app = app or current_app
    key = _secret_key(app)
    return URLSafeSerializer(key, salt=SALT)


def make_token(lead_id: int, app: Flask | None = None) -> str:
    return _serializer(app).dumps(int(lead_id))


def read_token(token: str, app: Flask | None = None) -> int | None:
    if not token or len(token) > 200:
        return None
    try:
        value = _serializer(app).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def unsubscribe_url(lead_id: int | None, app: Flask | None = None) -> str:
    token = make_token(lead_id, app) if lead_id else PREVIEW_TOKEN
    return f"{public_url(app)}/unsubscribe/{token}"


# ---- reply addresses: antwort+r<lead id>-<mac>@reply.example -----------------------------------
# Lower-case hex only: mail systems may change the case of a local part, which would break base64.
_REPLY_TAG = re.compile(r"\+r(\d{1,12})-([0-9a-f]{16})@", re.IGNORECASE)


def _reply_mac(lead_id: int, app: Flask | None = None) -> str:
    app = app or current_app
    key = _secret_key(app)
    return hmac.new(str(key).encode(), f"reply:{int(lead_id)}".encode(), hashlib.sha256).hexdigest()[:16]


def reply_address(base: str, lead_id: int | None, app: Flask | None = None) -> str:
    """The Reply-To for a lead's mail: the Inbound Parse address with the lead in a signed +tag, so a
    reply is matched to its lead even when it comes from another address (an assistant, a forward)."""
    local, at, domain = base.partition("@")
    if not lead_id or not at:
        return base
    return f"{local.split('+', 1)[0]}+r{int(lead_id)}-{_reply_mac(lead_id, app)}@{domain}"


def lead_from_reply_address(addresses: str, app: Flask | None = None) -> int | None:
    for match in _REPLY_TAG.finditer(addresses or ""):
        lead_id = int(match.group(1))
        if lead_id > 0 and hmac.compare_digest(match.group(2).lower(), _reply_mac(lead_id, app)):
            return lead_id
    return None
