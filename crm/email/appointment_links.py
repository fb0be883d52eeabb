"""Signed change links for an appointment's mail: move or cancel it without signing in.

The token is the appointment's id, its company, its `.ics` SEQUENCE and the link's expiry (the appointment's
start), signed with the app's secret key (itsdangerous, as the unsubscribe links in crm/email/tokens.py).
It works once per change: every change increments the sequence (crm/services/appointments.py), and the
service refuses a change that names an older one, so a replayed or forwarded old link changes nothing.
No table is needed for that; the expiry is checked here, the sequence by the service under the row's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask, current_app
from itsdangerous import BadSignature, URLSafeSerializer

from crm.email.settings import public_url
from crm.email.tokens import signing_key

SALT = "leadchain.appointment.link.v1"
MAX_TOKEN = 300


@dataclass(frozen=True)
class LinkClaim:
    appointment_id: int
    company_id: int
    sequence: int
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def _serializer(app: Flask | None = None) -> URLSafeSerializer:
    return URLSafeSerializer(signing_key(app or current_app), salt=SALT)


def make_token(appointment, app: Flask | None = None) -> str:
    """`appointment`: anything with id, company_id, ics_sequence and starts_at (UTC)."""
    starts = appointment.starts_at
    starts = starts.replace(tzinfo=UTC) if starts.tzinfo is None else starts
    payload = [
        int(appointment.id),
        int(appointment.company_id),
        int(appointment.ics_sequence or 0),
        int(starts.timestamp()),
    ]
    return _serializer(app).dumps(payload)


def read_token(token: str, app: Flask | None = None) -> LinkClaim | None:
    """The claim of a genuine token, else None (forged, truncated, another salt, malformed)."""
    if not token or len(token) > MAX_TOKEN:
        return None
    try:
        value = _serializer(app).loads(token)
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 4 and all(type(v) is int for v in value)):
        return None
    appointment_id, company_id, sequence, expires = value
    if appointment_id <= 0 or company_id <= 0 or sequence < 0:
        return None
    return LinkClaim(appointment_id, company_id, sequence, datetime.fromtimestamp(expires, UTC))


def manage_url(appointment, app: Flask | None = None) -> str:
    return f"{public_url(app)}/appointment/{make_token(appointment, app)}"
