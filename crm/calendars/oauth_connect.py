"""Connecting a Google or Microsoft calendar: the consent page's URL and the exchange of its one-time code for
the grant, which goes to the secrets store at once (the database keeps only its name).

The `state` parameter ties the consent to the session that asked for it (the settings page keeps it in the
signed session and compares it on return), so a code cannot be planted into someone else's connection."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from crm.calendars.connections import http_client
from crm.calendars.endpoints import endpoints, oauth_app
from crm.calendars.port import CalendarUnauthorized, CalendarUnavailable

EXCHANGE_TIMEOUT_S = 10


def authorize_url(kind: str, redirect_uri: str, state: str, login_hint: str | None = None) -> str:
    app = oauth_app(kind)
    where = endpoints()
    query = {
        "client_id": app.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": app.scope,
        "state": state,
    }
    if kind == "google":
        # offline + consent: Google gives a refresh token only then (and again on a reconnect).
        query |= {"access_type": "offline", "prompt": "consent"}
        base = where.google_auth
    else:
        base = f"{where.microsoft_login}/authorize"
    if login_hint:
        query["login_hint"] = login_hint
    return f"{base}?{urlencode(query)}"


def exchange_code(kind: str, code: str, redirect_uri: str) -> str:
    """The refresh token the code stands for (raises CalendarUnauthorized when the service refuses it)."""
    app = oauth_app(kind)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "scope": app.scope,
    }
    try:
        response = http_client(EXCHANGE_TIMEOUT_S).post(app.token_url, data=form)
    except httpx.HTTPError as exc:
        raise CalendarUnavailable(f"token endpoint unreachable ({type(exc).__name__})") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    refresh = body.get("refresh_token") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(refresh, str) or not refresh:
        error = body.get("error", "refused") if isinstance(body, dict) else "refused"
        raise CalendarUnauthorized(f"the consent was not accepted ({str(error)[:40]})")
    return refresh
