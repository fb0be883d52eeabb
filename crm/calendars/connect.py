"""Making and ending calendar connections (the settings page's work): the connection row names the calendar
and the Vault name of its credential; the credential itself goes straight to the secrets store.

* CalDAV: the app password. Cal.com: the API key, plus a webhook registered at Cal.com with a fresh signing
  secret (stored as the connection's webhook secret) pointing at /webhooks/calcom/<id>. Google and
  Microsoft: the refresh token from the consent (crm.calendars.oauth_connect).
* A rep's calendar has a user (its busy times block that rep); a branch's team calendar has only a branch.
* Disconnecting deletes the row (its busy rows and written-event links go with it, by cascade) and blanks the
  stored credentials: the app's Vault policy may not delete, but an empty value is no credential."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

import httpx
from flask import current_app

from crm.calendars import oauth
from crm.calendars.calcom import BOOKINGS_VERSION
from crm.calendars.connections import http_client, secret_name, webhook_secret_name
from crm.calendars.endpoints import endpoints
from crm.extensions import db
from crm.models.calendars import CalendarConnection, CalendarKind
from crm.secrets import SecretsError

log = logging.getLogger(__name__)
CALCOM_TRIGGERS = [
    "BOOKING_CREATED",
    "BOOKING_RESCHEDULED",
    "BOOKING_CANCELLED",
    "BOOKING_REQUESTED",
    "BOOKING_REJECTED",
]


class ConnectError(Exception):
    """The credential could not be stored (the secrets store refused or is down): nothing was kept."""


@dataclass(frozen=True)
class Owner:
    user_id: int | None
    branch_id: int | None


def _store(name: str, value: str) -> None:
    try:
        current_app.extensions["leadchain.secrets"].put(name, value)
    except (SecretsError, AttributeError) as exc:
        raise ConnectError(f"the secrets store did not take the credential ({type(exc).__name__})") from None


def create(
    kind: CalendarKind, owner: Owner, credential: str, *, url: str, username: str | None = None, name: str = ""
) -> CalendarConnection:
    """A new connection with its credential stored; committed only when the store took the credential."""
    connection = CalendarConnection(
        user_id=owner.user_id,
        branch_id=owner.branch_id,
        kind=kind,
        name=name or kind.value,
        url=url,
        username=username,
        # A branch's team calendar gets no rep's bookings; Cal.com bookings mail attendees (calcom.py).
        write_bookings=owner.user_id is not None and kind is not CalendarKind.CALCOM,
    )
    db.session.add(connection)
    db.session.flush()
    connection.secret_ref = secret_name(connection.company_id, connection.id)
    try:
        _store(connection.secret_ref, credential)
    except ConnectError:
        db.session.rollback()
        raise
    db.session.commit()
    oauth.forget(connection.secret_ref)
    return connection


def register_calcom_webhook(connection: CalendarConnection, api_key: str) -> bool:
    """Ask Cal.com to send this connection's booking webhooks, signed with a new secret; False when Cal.com
    did not take it (the page says so; the sync still reads the bookings every round)."""
    secret = secrets.token_urlsafe(32)
    _store(webhook_secret_name(connection.company_id, connection.id), secret)
    public = current_app.config["LEADCHAIN"].email.public_url.rstrip("/")
    body = {
        "subscriberUrl": f"{public}/webhooks/calcom/{connection.id}",
        "triggers": CALCOM_TRIGGERS,
        "active": True,
        "secret": secret,
    }
    headers = {"Authorization": f"Bearer {api_key}", "cal-api-version": BOOKINGS_VERSION}
    try:
        answer = http_client(10).post(f"{endpoints().calcom_api}/webhooks", json=body, headers=headers)
    except httpx.HTTPError as exc:
        log.warning("calendar %s: Cal.com webhook not registered (%s)", connection.id, type(exc).__name__)
        return False
    if answer.status_code not in (200, 201):
        log.warning("calendar %s: Cal.com refused the webhook (HTTP %s)", connection.id, answer.status_code)
        return False
    return True


def disconnect(connection: CalendarConnection) -> None:
    names = [connection.secret_ref] if connection.secret_ref else []
    if connection.kind is CalendarKind.CALCOM:
        names.append(webhook_secret_name(connection.company_id, connection.id))
    for name in names:
        try:
            _store(name, "")
        except ConnectError:
            log.warning("calendar %s: credential not blanked; the row goes anyway", connection.id)
        oauth.forget(name)
    db.session.delete(connection)
    db.session.commit()
