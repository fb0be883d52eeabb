"""Actions on the lead page through the Flask test client (SQLite and PostgreSQL): each one's effect,
its audit entry with the actor ui:<user id>, the flash message, 422 with field errors for bad input,
404 for a lead the user may not see, and Temporal down answered with a message instead of a 500.
Chains are stood in for by a fake gateway; the browser test drives a real chain."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from crm.extensions import db
from crm.models import (
    AuditEntry,
    Channel,
    ConsentRecord,
    Direction,
    DoNotCallEntry,
    Interaction,
    InteractionKind,
    Lead,
    LeadStatus,
    LegalBasis,
    PossibleDuplicate,
    Task,
)
from tests.conftest import set_settings
from tests.ui.test_leads_pages import FakeGateway, text_of, with_chain
from workflows.payloads import StopSignal


def _actions(app, lead_id):
    with app.app_context():
        return [
            (e.action, e.actor)
            for e in db.session.scalars(
                sa.select(AuditEntry).where(AuditEntry.entity_id == lead_id).order_by(AuditEntry.id)
            )
        ]


def _get(app, model, id_):
    with app.app_context():
        obj = db.session.get(model, id_)
        db.session.expunge(obj)
        return obj


# ---------------------------------------------------------------- the chain


def test_pause_resume_cancel_and_call_now(ui_app, as_sales_a, team, leads):
    with_chain(ui_app, leads.own, "chain-olga")
    gw = ui_app.extensions["leadchain.temporal"] = FakeGateway(live={"chain-olga": None})
    actor = f"ui:{team.sales_a.id}"
    r = as_sales_a.submit(f"/leads/{leads.own}/chain/pause")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/leads/{leads.own}")
    assert "Die Kette wird pausiert." in text_of(as_sales_a.get(f"/leads/{leads.own}"))
    as_sales_a.submit(f"/leads/{leads.own}/chain/resume")
    r = as_sales_a.submit(f"/leads/{leads.own}/call-now", follow_redirects=True)
    assert "Die Kette ruft jetzt an, sofern die Compliance-Prüfung es erlaubt." in text_of(r)
    as_sales_a.submit(f"/leads/{leads.own}/chain/cancel")
    assert [(c, n) for c, n, _ in gw.signals] == [
        ("chain-olga", "pause"),
        ("chain-olga", "resume"),
        ("chain-olga", "call_now"),
        ("chain-olga", "stop"),
    ]
    assert gw.signals[-1][2] == StopSignal("cancelled", actor=actor)
    assert _actions(ui_app, leads.own) == [
        ("chain.pause_requested", actor),
        ("chain.resume_requested", actor),
        ("chain.call_now_requested", actor),
        ("chain.cancel_requested", actor),
    ]
    assert as_sales_a.submit(f"/leads/{leads.own}/chain/explode").status_code == 404


def test_chain_not_running_and_temporal_down_are_messages(ui_app, as_sales_a, leads):
    r = as_sales_a.submit(f"/leads/{leads.own}/chain/pause", follow_redirects=True)
    assert r.status_code == 200 and "Die Kette dieses Leads läuft nicht." in text_of(r)  # no chain at all
    with_chain(ui_app, leads.own, "chain-ended")
    gw = ui_app.extensions["leadchain.temporal"] = FakeGateway()
    r = as_sales_a.submit(f"/leads/{leads.own}/call-now", follow_redirects=True)
    assert "Die Kette dieses Leads läuft nicht." in text_of(r) and gw.signals == []
    gw.down = True
    r = as_sales_a.submit(f"/leads/{leads.own}/chain/resume", follow_redirects=True)
    assert r.status_code == 200 and "Der Workflow-Dienst ist nicht erreichbar." in text_of(r)
    assert "Workflow-Dienst nicht erreichbar" in text_of(r)  # the chain card too
    assert _actions(ui_app, leads.own) == []
    r = as_sales_a.submit(f"/leads/{leads.own}/chain/pause?lang=en", follow_redirects=True)
    assert "The workflow service is unreachable." in text_of(r)


def test_temporal_unreachable_for_real(ui_app, as_sales_a, leads):
    with_chain(ui_app, leads.own)
    set_settings(ui_app, temporal_address="127.0.0.1:1")
    r = as_sales_a.submit(f"/leads/{leads.own}/chain/pause", follow_redirects=True)
    assert r.status_code == 200 and "Der Workflow-Dienst ist nicht erreichbar." in text_of(r)


def test_call_now_refused_for_a_do_not_contact_lead(ui_app, as_sales_a, leads):
    with_chain(ui_app, leads.own, "chain-olga")
    gw = ui_app.extensions["leadchain.temporal"] = FakeGateway(live={"chain-olga": None})
    with ui_app.app_context():
        db.session.get(Lead, leads.own).do_not_contact = True
        db.session.commit()
    r = as_sales_a.submit(f"/leads/{leads.own}/call-now", follow_redirects=True)
    assert "Dieser Lead darf nicht kontaktiert werden." in text_of(r) and gw.signals == []


# ---------------------------------------------------------------- do-not-contact


def test_do_not_contact_takes_effect_and_stops_the_chain(ui_app, as_sales_a, team, leads):
    with ui_app.app_context():
        lead = db.session.get(Lead, leads.own)
        lead.phone_e164 = "+4915112345678"
        db.session.add(
            ConsentRecord(
                lead_id=lead.id,
                channel=Channel.PHONE,
                legal_basis=LegalBasis.EXPRESS_CONSENT,
                source="website",
                proof_text="ja",
                proof_key="k",
                given_at=datetime(2025, 1, 1, tzinfo=UTC),
            )
        )
        db.session.commit()
    with_chain(ui_app, leads.own, "chain-olga")
    gw = ui_app.extensions["leadchain.temporal"] = FakeGateway(live={"chain-olga": None})
    r = as_sales_a.submit(
        f"/leads/{leads.own}/do-not-contact", data={"reason": "Bitte keine Anrufe mehr"}, follow_redirects=True
    )
    page = text_of(r)
    assert "Als „nicht kontaktieren“ markiert: keine Anrufe oder E-Mails mehr." in page
    assert "Jetzt anrufen" not in page and "Bitte keine Anrufe mehr" in page
    lead = _get(ui_app, Lead, leads.own)
    assert lead.do_not_contact and lead.status == LeadStatus.DO_NOT_CONTACT
    assert lead.dnc_reason == "Bitte keine Anrufe mehr"
    with ui_app.app_context():
        assert db.session.scalar(sa.select(ConsentRecord.withdrawn_at)) is not None
        assert db.session.scalar(sa.select(DoNotCallEntry.phone_e164)) == "+4915112345678"
    assert gw.signals == [("chain-olga", "stop", StopSignal("do_not_contact", actor=f"ui:{team.sales_a.id}"))]
    assert ("lead.do_not_contact", f"ui:{team.sales_a.id}") in _actions(ui_app, leads.own)
    r = as_sales_a.submit(f"/leads/{leads.own}/do-not-contact", follow_redirects=True)
    assert "bereits als „nicht kontaktieren“ markiert" in text_of(r)


def test_do_not_contact_with_temporal_down_still_flags(ui_app, as_sales_a, leads):
    with_chain(ui_app, leads.own, "chain-olga")
    ui_app.extensions["leadchain.temporal"] = FakeGateway(down=True)
    r = as_sales_a.submit(f"/leads/{leads.own}/do-not-contact", follow_redirects=True)
    assert r.status_code == 200 and "kontaktiert den Lead trotzdem nicht mehr" in text_of(r)
    assert _get(ui_app, Lead, leads.own).do_not_contact
    r = as_sales_a.submit(f"/leads/{leads.unassigned}/do-not-contact", data={"reason": "x" * 201})
    assert r.status_code == 422 and "Höchstens 200 Zeichen." in text_of(r)
    assert not _get(ui_app, Lead, leads.unassigned).do_not_contact


# ---------------------------------------------------------------- notes and tasks


def test_add_note(ui_app, as_sales_a, team, leads):
    r = as_sales_a.submit(
        f"/leads/{leads.own}/notes", data={"text": "  Hat <b>Interesse</b> an Paket B.  "}, follow_redirects=True
    )
    page = r.get_data(as_text=True)
    assert "Die Notiz wurde hinzugefügt." in text_of(r)
    assert "Hat &lt;b&gt;Interesse&lt;/b&gt; an Paket B." in page  # escaped, not markup
    with ui_app.app_context():
        (note,) = db.session.scalars(sa.select(Interaction).where(Interaction.kind == InteractionKind.NOTE))
        assert (note.lead_id, note.direction, note.created_by) == (
            leads.own,
            Direction.INTERNAL,
            f"ui:{team.sales_a.id}",
        )
    assert ("note.added", f"ui:{team.sales_a.id}") in _actions(ui_app, leads.own)
    r = as_sales_a.submit(f"/leads/{leads.own}/notes", data={"text": "   "})
    assert r.status_code == 422 and "Bitte schreiben Sie eine Notiz." in text_of(r)
    assert 'aria-describedby="text-error"' in r.get_data(as_text=True)
    r = as_sales_a.submit(f"/leads/{leads.own}/notes", data={"text": "x" * 10_001})
    assert r.status_code == 422 and "Höchstens 10000 Zeichen." in text_of(r)
    assert as_sales_a.submit(f"/leads/{leads.foreign}/notes", data={"text": "hi"}).status_code == 404


def test_add_task_with_due_time_in_the_users_zone_and_owner_rules(ui_app, as_sales_a, as_manager, team, leads):
    r = as_sales_a.submit(
        f"/leads/{leads.own}/tasks",
        data={"title": "Angebot schicken", "due_at": "2025-07-01T14:30"},
        follow_redirects=True,
    )
    assert "Die Aufgabe wurde angelegt." in text_of(r) and "Angebot schicken" in text_of(r)
    with ui_app.app_context():
        (task,) = db.session.scalars(sa.select(Task))
        assert task.owner_id == team.sales_a.id and task.lead_id == leads.own
        assert task.due_at == datetime(2025, 7, 1, 12, 30, tzinfo=UTC)  # 14:30 in Berlin (CEST)
        (entry,) = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "task.created"))
        assert entry.actor == f"ui:{team.sales_a.id}" and entry.entity_id == task.id
    # a rep cannot hand a task to someone else; a manager can
    r = as_sales_a.submit(f"/leads/{leads.own}/tasks", data={"title": "X", "owner_id": str(team.sales_b.id)})
    assert r.status_code == 422 and "Bitte wählen Sie einen gültigen Betreuer." in text_of(r)
    r = as_sales_a.submit(f"/leads/{leads.own}/tasks", data={"title": "", "due_at": "morgen"})
    page = text_of(r)
    assert r.status_code == 422 and "Bitte geben Sie der Aufgabe einen Titel." in page
    assert "Bitte geben Sie Datum und Uhrzeit ein." in page
    assert (
        as_manager.submit(
            f"/leads/{leads.foreign}/tasks", data={"title": "Übernehmen", "owner_id": str(team.sales_b.id)}
        ).status_code
        == 303
    )
    with ui_app.app_context():
        assert db.session.scalar(sa.select(Task.owner_id).where(Task.title == "Übernehmen")) == team.sales_b.id
        assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 2


# ---------------------------------------------------------------- duplicates


def _duplicate_of(app, lead_id: int, owner_id: int | None, chain_id: str | None = None) -> tuple[int, int]:
    with app.app_context():
        dup = Lead(
            first_name="Olga",
            last_name="Beispiel",
            company="Beispiel AG",
            email="olga.b@example.org",
            email_key="olga.b@example.org",
            source="csv",
            owner_id=owner_id,
            chain_id=chain_id,
        )
        db.session.add(dup)
        db.session.flush()
        db.session.add(
            Interaction(
                lead_id=dup.id,
                kind=InteractionKind.NOTE,
                direction=Direction.INBOUND,
                summary="aus dem CSV-Import",
                created_by="csv",
            )
        )
        flag = PossibleDuplicate(lead_id=dup.id, candidate_id=lead_id, similarity=0.93, reason="same name")
        db.session.add(flag)
        db.session.commit()
        return dup.id, flag.id


def test_merge_a_flagged_duplicate(ui_app, as_sales_a, team, leads):
    dup_id, flag_id = _duplicate_of(ui_app, leads.own, team.sales_a.id, chain_id="chain-dup")
    gw = ui_app.extensions["leadchain.temporal"] = FakeGateway(live={"chain-dup": None})
    page = text_of(as_sales_a.get(f"/leads/{leads.own}"))
    assert "Mögliche Dubletten" in page and "Ähnlichkeit 93 %" in page
    r = as_sales_a.submit(f"/leads/{leads.own}/merge/{flag_id}", follow_redirects=True)
    page = text_of(r)
    assert f"Lead #{dup_id} wurde in diesen Lead zusammengeführt." in page
    assert "aus dem CSV-Import" in page and "Mögliche Dubletten" not in page
    dup = _get(ui_app, Lead, dup_id)
    assert dup.merged_into_id == leads.own and dup.status == LeadStatus.MERGED
    assert _get(ui_app, Lead, leads.own).company == "Beispiel AG"  # gap filled
    assert _get(ui_app, PossibleDuplicate, flag_id).status == "merged"
    assert ("lead.merged", f"ui:{team.sales_a.id}") in _actions(ui_app, leads.own)
    assert gw.signals == [("chain-dup", "stop", StopSignal("cancelled", actor=f"ui:{team.sales_a.id}"))]
    assert as_sales_a.get(f"/leads/{dup_id}").status_code == 404  # merged away
    r = as_sales_a.submit(f"/leads/{leads.own}/merge/{flag_id}", follow_redirects=True)
    assert "bereits bearbeitet" in text_of(r)


def test_dismiss_and_the_limits_of_merging(ui_app, as_sales_a, as_manager, team, leads):
    dup_id, flag_id = _duplicate_of(ui_app, leads.own, team.sales_b.id)  # the other record is B's
    assert "Mögliche Dubletten" not in text_of(as_sales_a.get(f"/leads/{leads.own}"))
    assert as_sales_a.submit(f"/leads/{leads.own}/merge/{flag_id}").status_code == 404
    assert as_sales_a.submit(f"/leads/{leads.unassigned}/merge/{flag_id}").status_code == 404  # not its flag
    assert as_sales_a.submit(f"/leads/{leads.own}/merge/424242").status_code == 404
    assert _get(ui_app, Lead, dup_id).merged_into_id is None
    r = as_manager.submit(f"/leads/{leads.own}/merge/{flag_id}/dismiss", follow_redirects=True)
    assert "Als keine Dublette markiert." in text_of(r)
    assert _get(ui_app, PossibleDuplicate, flag_id).status == "dismissed"
    assert ("duplicate.dismissed", f"ui:{team.manager.id}") in _actions(ui_app, leads.own)
    r = as_manager.submit(f"/leads/{leads.own}/merge/{flag_id}", follow_redirects=True)
    assert "bereits bearbeitet" in text_of(r) and _get(ui_app, Lead, dup_id).merged_into_id is None


def test_a_due_date_outside_datetimes_range_is_a_field_error(ui_app, as_sales_a, leads):
    # 0001-01-01 00:30 in Berlin is in year 0 in UTC: the conversion raised OverflowError (a 500); a time
    # near 9999-12-31 overflows when shown in a zone east of UTC.
    for due in ("0001-01-01T00:30", "0001-01-01", "9999-12-31T23:00", "1899-12-31"):
        r = as_sales_a.submit(f"/leads/{leads.own}/tasks", data={"title": "Rückruf", "due_at": due})
        assert r.status_code == 422 and "Bitte geben Sie Datum und Uhrzeit ein." in text_of(r), due
    with ui_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0
    r = as_sales_a.submit(f"/leads/{leads.own}/tasks", data={"title": "Rückruf", "due_at": "2999-12-31T23:00"})
    assert r.status_code == 303 and as_sales_a.get(f"/leads/{leads.own}").status_code == 200
