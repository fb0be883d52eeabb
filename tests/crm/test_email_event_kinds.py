"""A SendGrid event whose `event` is a list or an object, not a name (found by bench/schemathesis_run.py):
the email-event counter (crm/observability/metrics.py), run after a 2xx, looked it up in a set: a
TypeError, so the webhook answered 500 to a correctly signed body it had just ignored."""

from __future__ import annotations

import json

import pytest

from bench.schemathesis_run import build_app, seed_leads, signature_headers
from crm.extensions import db
from tests.conftest import _wipe

ODD_KINDS = [[1], {"x": 1}, [], {}]


@pytest.fixture
def signed_app(backend, migrated_urls):
    app = build_app(migrated_urls[backend])  # holds the public key the bench signs for
    _wipe(app)
    yield app
    with app.app_context():
        db.session.remove()
    _wipe(app)


@pytest.mark.parametrize("kind", ODD_KINDS, ids=["list", "object", "empty-list", "empty-object"])
def test_a_signed_event_with_an_odd_kind_is_ignored(signed_app, kind):
    body = json.dumps([{"event": kind, "email": "anna@firma.de", "timestamp": 1}]).encode()
    headers = {"Content-Type": "application/json", **signature_headers("/webhooks/sendgrid", body)}
    r = signed_app.test_client().post("/webhooks/sendgrid", data=body, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["results"] == [{"reason": "not an event object", "status": "ignored"}]


UNSTORABLE = [
    {"event": "o\u0000pen"},
    {"event": "open", "sg_message_id": "abc\u0000.filter"},
    {"event": "open", "email": "anna\u0000@firma.de"},
    {"event": "open", "extra": {"deep": ["\u0000"]}},
    {"event": "open", "sg_message_id": "\udb34abc"},  # a lone surrogate: not encodable as UTF-8
]


@pytest.mark.parametrize("fields", UNSTORABLE, ids=["nul-kind", "nul-id", "nul-email", "nul-deep", "surrogate-id"])
def test_a_signed_event_postgresql_cannot_store_is_ignored(signed_app, fields):
    # PostgreSQL refuses NUL and lone surrogates in text and JSON: the event was looked up or its answer
    # stored with them, a DataError and a 500 (SQLite stored them). SendGrid sends neither.
    body = json.dumps([{"email": "anna@firma.de", "timestamp": 1, **fields}]).encode()
    headers = {"Content-Type": "application/json", **signature_headers("/webhooks/sendgrid", body)}
    r = signed_app.test_client().post("/webhooks/sendgrid", data=body, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["results"] == [{"reason": "not an event object", "status": "ignored"}]


@pytest.mark.parametrize(
    "lead_id", [2**31, 10**30, "99999999999999999999", "١", "1.0", -1, 0], ids=lambda v: repr(v)[:12]
)
def test_a_lead_id_that_is_no_row_id_is_unknown(signed_app, lead_id):
    # A number past the id column was an OverflowError (SQLite) or DataError (PostgreSQL): a 500; and
    # str.isdigit() read the Arabic-Indic '١' as lead 1. Lead 1 exists here, so a misread would record.
    seed_leads(signed_app)
    body = json.dumps([{"event": "open", "email": "anna@firma.de", "timestamp": 1, "lead_id": lead_id}]).encode()
    headers = {"Content-Type": "application/json", **signature_headers("/webhooks/sendgrid", body)}
    r = signed_app.test_client().post("/webhooks/sendgrid", data=body, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["results"] == [{"event": "open", "reason": "unknown message", "status": "ignored"}]


def test_a_lead_id_in_range_still_reaches_its_lead(signed_app):
    seed_leads(signed_app)
    body = json.dumps([{"event": "open", "email": "anna@firma.de", "timestamp": 1, "lead_id": "1"}]).encode()
    headers = {"Content-Type": "application/json", **signature_headers("/webhooks/sendgrid", body)}
    r = signed_app.test_client().post("/webhooks/sendgrid", data=body, headers=headers)
    assert r.status_code == 200 and r.get_json()["results"][0]["status"] == "recorded", r.get_data(as_text=True)
