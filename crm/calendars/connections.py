"""Opening a connection's port: the credential from the secrets store (Vault/OpenBao), never from the database.

One factory per kind, all answering CalendarPort: CalDAV (app password), Cal.com (API key), Google and
Microsoft (OAuth refresh token; the access token is fetched and kept by crm.calendars.oauth). The JSON
services share one HTTP client per timeout (httpx clients are thread-safe and keep connections open)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
from flask import current_app

from crm.calendars.calcom import CalComCalendar
from crm.calendars.caldav_client import TIMEOUT_S, CalDavCalendar
from crm.calendars.endpoints import endpoints, oauth_app
from crm.calendars.google import GoogleCalendar
from crm.calendars.microsoft import MicrosoftCalendar
from crm.calendars.oauth import BearerApi, TokenSource
from crm.calendars.port import CalendarPort, CalendarUnauthorized
from crm.models.calendars import CalendarConnection, CalendarKind
from crm.secrets import SecretsError


def secret_name(company_id: int, connection_id: int) -> str:
    """The app password (CalDAV) or token of a connection: companies/<id>/calendars/<connection id>/password."""
    return f"companies/{int(company_id)}/calendars/{int(connection_id)}/password"


def _caldav(connection: CalendarConnection, secret: str | None, timeout_s: int) -> CalendarPort:
    return CalDavCalendar(connection.url, connection.username, secret, timeout_s=timeout_s)


_CLIENTS: dict[int, httpx.Client] = {}
_CLIENTS_LOCK = threading.Lock()


def http_client(timeout_s: int) -> httpx.Client:
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(timeout_s)
        if client is None:
            client = _CLIENTS[timeout_s] = httpx.Client(timeout=timeout_s, follow_redirects=False)
        return client


def webhook_secret_name(company_id: int, connection_id: int) -> str:
    """Cal.com's webhook signing secret of a connection (the `secret` given when the webhook was made)."""
    return f"companies/{int(company_id)}/calendars/{int(connection_id)}/webhook-secret"


def _calcom(connection: CalendarConnection, secret: str | None, timeout_s: int) -> CalendarPort:
    return CalComCalendar(endpoints().calcom_api, secret, http_client(timeout_s))


def _bearer(connection: CalendarConnection, kind: str, base: str, timeout_s: int) -> BearerApi:
    if not connection.secret_ref:
        raise CalendarUnauthorized("no grant stored: connect the calendar again")
    store = current_app.extensions["leadchain.secrets"]
    tokens = TokenSource(oauth_app(kind), connection.secret_ref, store, http_client(timeout_s))
    return BearerApi(base, tokens, http_client(timeout_s), "Google Calendar" if kind == "google" else "Microsoft Graph")


def _google(connection: CalendarConnection, secret: str | None, timeout_s: int) -> CalendarPort:
    return GoogleCalendar(connection.url, _bearer(connection, "google", endpoints().google_api, timeout_s))


def _microsoft(connection: CalendarConnection, secret: str | None, timeout_s: int) -> CalendarPort:
    return MicrosoftCalendar(_bearer(connection, "microsoft", endpoints().microsoft_graph, timeout_s))


FACTORIES: dict[CalendarKind, Callable[[CalendarConnection, str | None, int], CalendarPort]] = {
    CalendarKind.CALDAV: _caldav,
    CalendarKind.CALCOM: _calcom,
    CalendarKind.GOOGLE: _google,
    CalendarKind.MICROSOFT: _microsoft,
}


def open_port(connection: CalendarConnection, *, timeout_s: int = TIMEOUT_S) -> CalendarPort:
    """The connection's calendar, every request bounded by `timeout_s` (shorter for the booking re-check)."""
    factory = FACTORIES.get(connection.kind)
    if factory is None:
        raise NotImplementedError(f"no calendar client for {connection.kind.value}")
    secret = None
    if connection.secret_ref:
        try:
            secret = current_app.extensions["leadchain.secrets"].get(connection.secret_ref)
        except SecretsError as exc:
            raise CalendarUnauthorized(f"credential not readable ({type(exc).__name__})") from None
        if secret is None:
            raise CalendarUnauthorized("credential missing from the secrets store")
    return factory(connection, secret, timeout_s)
