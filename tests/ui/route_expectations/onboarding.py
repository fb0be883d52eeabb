"""The setup wizard (crm.ui.onboarding): admins only; sales and managers get 403 and nothing changes. The
invite page is public (the token is the credential): a forged token is 404 for everyone."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.models import User
from crm.models.onboarding import OnboardingProgress
from tests.ui.route_expectations import Route, Subject

PAGE = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 200}
ACTION = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 302}
FORGED = {"anonymous": 404, "sales": 404, "manager": 404, "admin": 404}


def progress_snapshot(s: Subject):
    return sorted((p.company_id, tuple(p.completed or [])) for p in db.session.scalars(sa.select(OnboardingProgress)))


def users_snapshot(s: Subject):
    return sorted((u.id, u.password_hash) for u in db.session.scalars(sa.select(User)))


ROUTES = {
    "onboarding.start": Route(expect=ACTION),  # to the first screen not done
    "onboarding.screen": Route(url_args=lambda s: {"screen": "company"}, expect=PAGE),
    # The calendars screen needs no provider: "continue" marks it done.
    "onboarding.save": Route(
        method="POST", url_args=lambda s: {"screen": "calendars"}, snapshot=progress_snapshot, expect=ACTION
    ),
    "onboarding.accept_invite": [
        Route(url_args=lambda s: {"token": "forged"}, expect=FORGED),
        Route(
            method="POST",
            url_args=lambda s: {"token": "forged"},
            data=lambda s: {"password": "a long enough password"},
            snapshot=users_snapshot,
            expect=FORGED,
        ),
    ],
}
