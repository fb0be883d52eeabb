"""The lead webhook's own cost (issue 21): on a pooled PostgreSQL connection in use it sends no pre-ping, makes
one routing look-up and no delivery look-up before storing; a redelivery still answers as the first; the
import step takes the lead as the web validated and normalised it, never a sender's stand-in."""

from __future__ import annotations

import json

import psycopg
import pytest
import sqlalchemy as sa

import crm
from crm.extensions import db
from crm.models import Lead, LeadSubmission
from crm.privacy import suppression
from crm.schemas.lead import WebFormLeadSchema
from crm.services import submissions
from tests.conftest import WEBHOOK_SECRETS
from tests.helpers import post_signed, process, signed_headers

LEAD = {"first_name": "Anna", "last_name": "Weber", "email": "anna.weber@example.de", "phone": "030 23125101"}


@pytest.fixture
def round_trips(monkeypatch):
    """Every statement and transaction command psycopg sends, in order."""
    sent: list[str] = []
    execute, command = psycopg.Cursor.execute, psycopg.Connection._exec_command

    def traced_execute(self, query, params=None, **kw):
        sent.append(query if isinstance(query, str) else repr(query))
        return execute(self, query, params, **kw)

    def traced_command(self, cmd, *args, **kw):
        sent.append(bytes(cmd).decode() if isinstance(cmd, bytes | bytearray) else repr(cmd))
        return command(self, cmd, *args, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", traced_execute)
    monkeypatch.setattr(psycopg.Connection, "_exec_command", traced_command)
    return sent


def _one_lead(client, i: int):
    return post_signed(
        client, "website", {**LEAD, "email": f"anna{i}@example.de", "phone": f"030 231251{i:02d}"}, WEBHOOK_SECRETS[0]
    )


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_lead_on_a_pool_in_use_costs_no_ping_and_no_delivery_look_up(app, client, round_trips):
    assert _one_lead(client, 1).status_code == 202  # the pool holds a connection now
    round_trips.clear()
    assert _one_lead(client, 2).status_code == 202
    assert ";" not in round_trips and "SELECT 1" not in round_trips  # no pre-ping
    assert not any("FROM webhook_deliveries" in s for s in round_trips), round_trips
    assert sum("FROM lead_sources" in s for s in round_trips) == 1, round_trips
    # the routing look-up's transaction and the one that stores the submission with its delivery
    assert round_trips.count("BEGIN") == 2 and round_trips.count("COMMIT") == 1, round_trips
    assert len(round_trips) <= 10, round_trips


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_connection_that_idled_is_pinged_first(app, client, round_trips, monkeypatch):
    assert _one_lead(client, 1).status_code == 202
    monkeypatch.setattr(crm, "IDLE_PING_S", 0.0)
    round_trips.clear()
    assert _one_lead(client, 2).status_code == 202
    assert round_trips[0] == ";", round_trips  # SQLAlchemy's ping for psycopg


def test_a_redelivery_answers_as_the_first_after_the_person_was_erased(app, client):
    body = json.dumps(LEAD).encode()
    first = client.post(
        "/webhooks/leads/website", data=body, headers=signed_headers(WEBHOOK_SECRETS[0], body, msg_id="msg_erased_1")
    )
    assert first.status_code == 202
    with app.app_context():
        suppression.add("email", "anna.weber@example.de", request_id=None)
        db.session.commit()
    again = client.post(
        "/webhooks/leads/website", data=body, headers=signed_headers(WEBHOOK_SECRETS[1], body, msg_id="msg_erased_1")
    )
    assert again.status_code == 202 and again.get_json() == first.get_json()
    new = client.post("/webhooks/leads/website", data=body, headers=signed_headers(WEBHOOK_SECRETS[0], body))
    assert new.status_code == 409, new.get_json()  # a new delivery of the erased person is refused
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LeadSubmission)) == 1


def test_the_import_step_takes_the_lead_as_the_web_normalised_it(app, client, monkeypatch):
    # A sender's own "_normalised" field is not the web's: it is replaced by what the web validated.
    forged = {"source": "website", "email": "someone.else@example.de", "email_key": "someone.else@example.de"}
    r = post_signed(client, "website", {**LEAD, "_normalised": forged}, WEBHOOK_SECRETS[0])
    assert r.status_code == 202, r.get_json()

    def no_second_parse(*_args, **_kwargs):
        raise AssertionError("the import step parsed the stored payload again")

    monkeypatch.setattr(WebFormLeadSchema, "load", no_second_parse)
    body = process(app, r)
    with app.app_context():
        lead = db.session.get(Lead, body["lead_id"])
        assert lead.email == "anna.weber@example.de" and lead.phone_e164 == "+493023125101"
        assert (lead.first_name, lead.last_name, lead.source) == ("Anna", "Weber", "website")


def test_a_stored_lead_without_its_chain_id_is_parsed_again(app):
    # A submission stored before the web kept the normalised lead, whose sender put a "_normalised" field in
    # it: without the chain id only the chain key gives, it is not taken for the lead.
    forged = {"source": "website", "email": "someone.else@example.de", "email_key": "someone.else@example.de"}
    with app.app_context():
        submission = LeadSubmission(
            source="website",
            channel="webhook",
            actor="test",
            chain_id="c1-lead-0123",
            payload={**LEAD, "_region": "DE", "_normalised": {**forged, "chain_id": "c1-lead-other"}},
        )
        lead = submissions.load(submission)
    assert lead.email == "anna.weber@example.de" and lead.phone is not None and lead.phone.e164 == "+493023125101"
