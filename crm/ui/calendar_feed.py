"""GET /calendar/feed/<token>.ics: a rep's secret subscription feed (crm/calendars/feed.py). No login: the token
in the URL is the credential (unknown or revoked: 404, the same answer, so tokens cannot be probed)."""

from __future__ import annotations

from flask import Blueprint, abort, make_response

from crm.calendars import feed
from crm.tenancy.web import bind_request_company

bp = Blueprint("calendar_feed", __name__)


@bp.get("/calendar/feed/<token>.ics")
def show(token: str):
    owner = feed.owner_of(token)
    if owner is None:
        abort(404)
    bind_request_company(owner.company_id)
    response = make_response(feed.render(owner.user_id))
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Cache-Control"] = "private, no-store"
    # The token is in the URL: keep it out of Referer headers of anything the response could lead to.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
