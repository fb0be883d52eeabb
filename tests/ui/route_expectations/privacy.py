"""Privacy requests and retention (crm.ui.privacy): admins only; sales and managers get 403, nothing changes.

The admin's POSTs stay away from Temporal: the new request names nobody on record (404), the restart is of
a finished request (409); tests/privacy/ run the workflows themselves."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.models import PrivacyRequest, RetentionPolicy
from crm.models.types import utcnow
from tests.ui.route_expectations import Route, Subject

ADMIN_PAGE = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 200}


def _request(s: Subject) -> dict:
    now = utcnow()
    found = PrivacyRequest(
        kind="export",
        status="done",
        requester="subject",
        received_via="email",
        identity_check="matrix",
        lead_ids=[s.lead],
        received_at=now,
        due_at=now,
        opened_by="matrix",
        archive=b"PK matrix",
        archive_sha256="0" * 64,
    )
    db.session.add(found)
    db.session.commit()
    return {"request_id": found.id}


def requests_snapshot(s: Subject):
    rows = db.session.scalars(sa.select(PrivacyRequest).order_by(PrivacyRequest.id))
    return [(r.id, r.status, r.downloaded_at, r.archive) for r in rows]


def retention_snapshot(s: Subject):
    return [(p.transcripts_days, p.recordings_days) for p in db.session.scalars(sa.select(RetentionPolicy))]


NEW = {
    "kind": "export",
    "email": "nobody-in-the-matrix@example.com",
    "requester": "subject",
    "received_via": "email",
    "identity_check": "matrix",
}

ROUTES = {
    "privacy.index": Route(expect=ADMIN_PAGE),
    "privacy.open_request": Route(
        method="POST",
        data=lambda s: NEW,
        snapshot=requests_snapshot,
        expect={"anonymous": 302, "sales": 403, "manager": 403, "admin": 404},
    ),
    "privacy.show": Route(setup=_request, url_args=lambda s: {"request_id": s.extra["request_id"]}, expect=ADMIN_PAGE),
    "privacy.start": Route(
        method="POST",
        setup=_request,
        url_args=lambda s: {"request_id": s.extra["request_id"]},
        snapshot=requests_snapshot,
        expect={"anonymous": 302, "sales": 403, "manager": 403, "admin": 409},
    ),
    "privacy.download": Route(
        method="POST",
        setup=_request,
        url_args=lambda s: {"request_id": s.extra["request_id"]},
        snapshot=requests_snapshot,
        isolated=True,
        expect={"anonymous": 302, "sales": 403, "manager": 403, "admin": 200},
    ),
    "privacy.set_retention": Route(
        method="POST",
        data=lambda s: {"transcripts_days": "60", "recordings_days": "14"},
        snapshot=retention_snapshot,
        expect={"anonymous": 302, "sales": 403, "manager": 403, "admin": 302},
    ),
}
