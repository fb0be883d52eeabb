"""GET /queue through the Flask test client: the four groups, ownership, German and English."""

from __future__ import annotations

from datetime import timedelta

from crm.extensions import db
from crm.models import AuditEntry, Direction, Interaction, InteractionKind, Lead
from crm.models.types import utcnow


def _queue_data(app, leads) -> None:
    now = utcnow()
    with app.app_context():
        own, foreign, pool = (db.session.get(Lead, i) for i in (leads.own, leads.foreign, leads.unassigned))
        own.chain_stage, foreign.chain_stage, pool.chain_stage = "calling", "waiting_for_retry", "waiting_for_window"
        db.session.add_all(
            [
                Interaction(
                    lead_id=own.id,
                    kind=InteractionKind.CALL,
                    direction=Direction.OUTBOUND,
                    provider="retell",
                    provider_ref="page-1",
                    status="ringing",
                    started_at=now - timedelta(minutes=1),
                ),
                Interaction(
                    lead_id=foreign.id,
                    kind=InteractionKind.CALL,
                    direction=Direction.OUTBOUND,
                    provider="vapi",
                    provider_ref="page-2",
                    status="ended",
                    outcome="no_answer",
                    started_at=now - timedelta(minutes=30),
                    data={"end_status": "no_answer"},
                ),
                Interaction(
                    lead_id=own.id,
                    kind=InteractionKind.CALL,
                    direction=Direction.OUTBOUND,
                    provider="bland",
                    provider_ref="page-3",
                    status="ended",
                    outcome="failed",
                    started_at=now - timedelta(hours=3),
                    data={"end_status": "failed"},
                ),
                AuditEntry(
                    actor="chain",
                    action="chain.waiting_for_retry",
                    entity_type="lead",
                    entity_id=foreign.id,
                    at=now - timedelta(minutes=29),
                    after={},
                ),
                AuditEntry(
                    actor="chain",
                    action="call.refused",
                    entity_type="lead",
                    entity_id=pool.id,
                    at=now - timedelta(hours=1),
                    after={"reason": "outside_hours", "next_window_start": "2030-01-02T08:00:00+00:00"},
                ),
            ]
        )
        db.session.commit()


def _section(html: str, key: str) -> str:
    start = html.index(f'id="{key}"')
    end = html.find("<section", start)
    return html[start : end if end > 0 else len(html)]


def test_sales_rep_sees_own_and_unassigned(ui_app, leads, as_sales_a):
    _queue_data(ui_app, leads)
    r = as_sales_a.get("/queue")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Anrufwarteschlange" in html and "Laufende Anrufe" in html
    assert "Olga Beispiel" in _section(html, "in_progress")
    assert f"/leads/{leads.own}" in _section(html, "failed")
    assert "Fritz" not in html  # sales B's lead
    window = _section(html, "waiting_for_window")
    assert "Uwe Beispiel" in window and 'datetime="2030-01-02T08:00:00+00:00"' in window
    assert "02.01.30, 09:00" in window  # Berlin time, German format
    assert "Keine Wiederholung geplant." in _section(html, "retries")


def test_manager_sees_everyone_in_english(ui_app, leads, as_manager):
    _queue_data(ui_app, leads)
    html = as_manager.get("/queue?lang=en").get_data(as_text=True)
    assert "Call queue" in html and "Scheduled retries" in html
    retries = _section(html, "retries")
    assert "Fritz Beispiel" in retries and "No answer" in retries and "vapi" in retries
    assert "Olga Beispiel" in _section(html, "in_progress")
    assert "2 Jan 2030" in _section(html, "waiting_for_window") or "02/01/2030" in _section(html, "waiting_for_window")


def test_anonymous_goes_to_login(anon):
    r = anon.get("/queue")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
