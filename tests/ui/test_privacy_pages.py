"""The admin's privacy pages (crm.ui.privacy) on both databases: a bad form is refused naming each field, a
person not on record is a 404, the export downloads once (then 410, audited, the archive dropped), the
retention periods save, and the German page speaks German. The workflows themselves run in tests/privacy/."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.models import AuditEntry, PrivacyRequest, RetentionPolicy
from crm.models.types import utcnow
from tests.helpers import in_app


def _export(app, lead_id: int) -> int:
    def add() -> int:
        now = utcnow()
        found = PrivacyRequest(
            kind="export", status="done", requester="subject", received_via="email", identity_check="id card",
            lead_ids=[lead_id], received_at=now, due_at=now, opened_by="t", archive=b"PK-zip", archive_sha256="a" * 64,
        )  # fmt: skip
        db.session.add(found)
        db.session.commit()
        return found.id

    return in_app(app, add)


def test_a_bad_request_names_each_field_and_an_unknown_person_is_404(as_admin, leads):
    r = as_admin.submit("/privacy/requests", {"kind": "forget", "email": "not-an-email", "requester": "x"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    for field in ("E-Mail", "Art", "Wer hat gefragt", "Eingegangen per", "Identitätsprüfung"):
        assert f"{field}:" in page, field
    r = as_admin.submit(
        "/privacy/requests",
        {"kind": "erasure", "email": "nobody@example.com", "requester": "subject", "received_via": "email",
         "identity_check": "reply from the address on record"},
    )  # fmt: skip
    assert r.status_code == 404 and "Kein Datensatz passt" in r.get_data(as_text=True)


def test_the_export_downloads_once(ui_app, as_admin, as_manager, leads):
    request_id = _export(ui_app, leads.own)
    page = as_admin.get(f"/privacy/requests/{request_id}").get_data(as_text=True)
    assert "Datenschutzanfrage" in page and "Archiv herunterladen (einmalig)" in page
    assert as_manager.submit(f"/privacy/requests/{request_id}/download").status_code == 403
    first = as_admin.submit(f"/privacy/requests/{request_id}/download")
    assert first.status_code == 200 and first.get_data() == b"PK-zip" and first.mimetype == "application/zip"
    assert first.headers["Cache-Control"] == "no-store"
    assert as_admin.submit(f"/privacy/requests/{request_id}/download").status_code == 410
    stored = in_app(ui_app, lambda: db.session.get(PrivacyRequest, request_id))
    assert stored.archive is None and stored.downloaded_at is not None
    actions = in_app(ui_app, lambda: db.session.scalars(sa.select(AuditEntry.action)).all())
    assert actions.count("privacy.export_downloaded") == 1


def test_retention_periods_save_and_refuse_nonsense(ui_app, as_admin):
    assert as_admin.submit("/privacy/retention", {"recordings_days": "0"}).status_code == 422
    assert as_admin.submit("/privacy/retention", {"recordings_days": "14"}).status_code == 302
    policy = in_app(ui_app, lambda: db.session.scalar(sa.select(RetentionPolicy)))
    assert policy.recordings_days == 14 and policy.transcripts_days is None
    assert "Anruf-Aufnahmen" in as_admin.get("/privacy/requests").get_data(as_text=True)
