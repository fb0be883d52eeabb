"""Settings → calendars (crm.ui.calendar_settings): admins only; sales and managers get 403 and nothing
changes. The admin's answers are 303s (back to the page after a POST, to the consent page, or back from it)."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.models.calendars import CalendarConnection, CalendarKind
from tests.ui.route_expectations import Route, Subject

PAGE = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 200}
ACTION = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 303}


def connections_snapshot(s: Subject):
    return sorted(
        (c.id, c.kind.value, c.user_id, c.branch_id, c.counts_as_busy, c.url)
        for c in db.session.scalars(sa.select(CalendarConnection))
    )


def _connection(s: Subject) -> dict:
    connection = CalendarConnection(
        user_id=s.team.sales_b.id, kind=CalendarKind.CALDAV, name="matrix", url="https://dav.example.test/cal/"
    )
    db.session.add(connection)
    db.session.commit()
    return {"connection_id": connection.id}


ROUTES = {
    "calendar_settings.index": Route(expect=PAGE),
    "calendar_settings.create": Route(
        method="POST",
        snapshot=connections_snapshot,
        data=lambda s: {
            "owner": f"user:{s.team.sales_b.id}",
            "kind": "caldav",
            "url": "https://dav.example.test/rep/",
            "username": "rep",
            "password": "an app password",
        },
        # 303: connected. 422 only in the cross-company matrix, where the rep named is another company's: not
        # found in the admin's company, so the owner field is refused and nothing is made.
        expect={**ACTION, "admin": (303, 422)},
    ),
    # Without a consent under way the return is refused (back to the page with a message), for an admin too.
    "calendar_settings.oauth_return": Route(
        query=lambda s: {"code": "x", "state": "y"}, snapshot=connections_snapshot, expect=ACTION
    ),
    "calendar_settings.toggle_busy": Route(
        method="POST",
        setup=_connection,
        snapshot=connections_snapshot,
        url_args=lambda s: {"connection_id": s.extra["connection_id"]},
        data=lambda s: {},
        expect=ACTION,
    ),
    "calendar_settings.disconnect": Route(
        method="POST",
        setup=_connection,
        snapshot=connections_snapshot,
        url_args=lambda s: {"connection_id": s.extra["connection_id"]},
        isolated=True,
        expect=ACTION,
    ),
}
