"""What the tests of the JSON calendar services share: a week ahead to place events in, the rep acting in
their own calendar (their own access token from the sandbox's consent page, over HTTP), and busy rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from crm.extensions import db
from crm.models.calendars import CalendarBusy

_today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
# Next week's Monday, 00:00 UTC: inside every service's sync window and never in the past.
MONDAY = _today + timedelta(days=7 - _today.weekday())


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def rep_token(base: str, kind: str, email: str) -> str:
    """An access token for the rep's own use of their calendar (as their Google or Outlook app has one)."""
    if kind == "google":
        consent, token = f"{base}/google/o/oauth2/v2/auth", f"{base}/google/token"
        client = ("sandbox-google-client.apps.googleusercontent.com", "sandbox-google-client-secret")
    else:
        consent, token = f"{base}/microsoft/common/oauth2/v2.0/authorize", f"{base}/microsoft/common/oauth2/v2.0/token"
        client = ("00000000-0000-0000-0000-00000000c0de", "sandbox-microsoft-client-secret")
    answer = httpx.get(consent, params={"client_id": client[0], "redirect_uri": "http://app/cb", "login_hint": email})
    code = httpx.URL(answer.headers["Location"]).params["code"]
    form = {"grant_type": "authorization_code", "code": code, "client_id": client[0], "client_secret": client[1]}
    return str(httpx.post(token, data=form).json()["access_token"])


def busy(connection_id: int) -> list[tuple[datetime, datetime]]:
    rows = db.session.execute(
        sa.select(CalendarBusy.starts_at, CalendarBusy.ends_at)
        .where(CalendarBusy.connection_id == connection_id)
        .order_by(CalendarBusy.starts_at, CalendarBusy.ends_at)
    ).all()
    return [(s, e) for s, e in rows]
