"""The routes a Bland inbound number's configuration points at (docs/inbound.md sec. 7), over the Flask test client on
SQLite and PostgreSQL, with bodies shaped as crm.inbound.bland_config's templates fill them: a tool retried by
Bland changes nothing twice, a forged or foreign request reaches nothing, the post-call webhook is verified and
recorded once."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
import sqlalchemy as sa

from crm import create_app
from crm.extensions import db
from crm.inbound.numbers import clear_route_cache
from crm.models import Appointment, InboundCall, Interaction, SideEffect, User
from crm.tenancy.context import company_scope
from tests.conftest import _wipe, make_test_secrets, set_settings
from tests.inbound import helpers as h
from tests.tenancy.companies import second_company

pytestmark = pytest.mark.tenancy
TO = h.NUMBERS["bland"]


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: Any, migrated_urls: dict[str, str]) -> Any:
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls[request.param]},
        secrets=make_test_secrets(**h.SECRETS),
    )
    set_settings(app, "security", auth_failure_limit="100000/minute")
    _wipe(app)
    clear_route_cache()
    h.seed(app, second_company(app))
    with app.app_context(), company_scope(1):
        owner = db.session.scalar(sa.select(User).where(User.email == "owner.one@example.test"))
        owner.working_hours = {d: [["07:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        db.session.commit()
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
    _wipe(app)


def _tool(client: Any, tool: str, body: dict[str, Any], secret: str = h.BLAND_SECRET) -> Any:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
    return client.post(f"/webhooks/bland/inbound/tools/{tool}", data=h.compact(body), headers=headers)


def _answered(client: Any, call_id: str, caller: str = h.KNOWN) -> None:
    assert h.post(client, "bland", h.bland_body(TO, caller, call_id)).status_code == 200


def _mails(app: Any) -> list[str]:
    with app.app_context(), company_scope(1):
        keys = sorted(db.session.scalars(sa.select(SideEffect.key).where(SideEffect.key.like("appointment:%"))))
        db.session.remove()
    return keys


def test_a_retried_tool_changes_once_and_a_forged_or_unknown_call_reaches_nothing(world):
    app = world
    client = app.test_client()
    _answered(client, "bland-tools-1")
    free = _tool(client, "free_times", {"call_id": "bland-tools-1", "to": TO, "appointment": "next", "after": ""})
    assert free.status_code == 200 and free.json["ok"], free.json
    move = {"call_id": "bland-tools-1", "to": TO, "appointment": "next", "start": free.json["first_start"]}
    first, again = _tool(client, "move", move), _tool(client, "move", move)
    assert first.json["result"] == "rescheduled" and again.json == first.json
    assert [k.rsplit(":", 1)[1] for k in _mails(app)] == ["moved"]
    # Forged: a wrong secret. Foreign: a call id nobody answered on this number. Neither cancels anything.
    cancel = {"call_id": "bland-tools-1", "to": TO, "appointment": "next"}
    assert _tool(client, "cancel", cancel, secret="wrong").status_code == 401
    assert _tool(client, "cancel", {**cancel, "call_id": "never-answered"}).status_code == 404
    assert _tool(client, "no_such_tool", cancel).status_code == 404
    with app.app_context(), company_scope(1):
        appt = db.session.scalar(sa.select(Appointment))
        assert appt.status.value == "confirmed" and appt.ics_sequence == 1
        db.session.remove()


def _post_call(client: Any, payload: dict[str, Any], secret: str = h.BLAND_SECRET) -> Any:
    body = h.compact(payload)
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Webhook-Signature": signature}
    return client.post("/webhooks/bland/inbound/call", data=body, headers=headers)


def test_the_post_call_webhook_is_verified_and_recorded_once(world):
    app = world
    client = app.test_client()
    _answered(client, "bland-post-1")
    payload = {
        "call_id": "bland-post-1", "c_id": "bland-post-1", "to": TO, "from": h.KNOWN, "inbound": True,
        "completed": True, "status": "completed", "call_length": 0.5, "corrected_duration": "30",
        "started_at": "2026-01-05T17:00:40+00:00", "end_at": "2026-01-05T17:01:10+00:00",
        "transferred_to": "+498912345699", "summary": "Asked for a person.", "metadata": {"direction": "inbound"},
        "transcripts": [{"id": 1, "created_at": "2026-01-05T17:00:41+00:00", "text": "A person, please.",
                         "user": "user", "c_id": "bland-post-1"}],
    }  # fmt: skip
    assert _post_call(client, payload, secret="wrong").status_code == 401
    first, again = _post_call(client, payload), _post_call(client, payload)
    assert first.status_code == again.status_code == 200 and first.json == again.json
    assert first.json["outcome"] == "transferred"
    with app.app_context(), company_scope(1):
        row = db.session.scalar(sa.select(InboundCall).where(InboundCall.call_ref == "bland-post-1"))
        assert row.outcome == "transferred" and row.needed_person and row.ended_at is not None
        notes = db.session.scalars(sa.select(Interaction).where(Interaction.provider_ref == "bland-post-1")).all()
        assert len(notes) == 1 and notes[0].transcript[0]["text"] == "A person, please."
        db.session.remove()
