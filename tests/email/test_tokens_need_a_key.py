"""Email links and reply addresses are signed with the app's secret key, and never without one.

create_app always sets a key; an app that somehow has none must refuse to sign instead of signing
unsubscribe links with nothing or reply tags with the text "None" (which anyone could then forge)."""

from __future__ import annotations

import pytest
from flask import Flask

from crm.email.tokens import lead_from_reply_address, make_token, read_token, reply_address
from crm.secrets import EnvSecrets


def _app(secret_key: str | None, stored: str | None = None) -> Flask:
    app = Flask(__name__)
    app.secret_key = secret_key
    app.extensions["leadchain.secrets"] = EnvSecrets(
        {"LEADCHAIN_SECRET_APP_SECRET_KEY": stored} if stored is not None else {}
    )
    return app


def test_without_any_key_nothing_is_signed() -> None:
    app = _app(None)
    with pytest.raises(RuntimeError, match="no secret key"):
        reply_address("antwort@reply.example", 42, app)
    with pytest.raises(RuntimeError, match="no secret key"):
        make_token(42, app)


def test_a_stored_key_wins_and_signatures_do_not_cross_keys() -> None:
    stored, flask_only, other = _app("flask-key", stored="stored-key"), _app("flask-key"), _app("other-key")
    address = reply_address("antwort@reply.example", 42, stored)
    assert lead_from_reply_address(address, stored) == 42
    assert lead_from_reply_address(address, flask_only) is None  # signed with the stored key, not Flask's
    token = make_token(42, flask_only)
    assert read_token(token, flask_only) == 42 and read_token(token, other) is None
