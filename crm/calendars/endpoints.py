"""Where the calendar services are: their real hosts, or the provider sandbox when the installation runs
against it (LEADCHAIN_SANDBOX_URL, as for the voice providers), and the installation's OAuth apps.

The OAuth client of each service is the installation's (one Google Cloud / Entra app for every company), so
its id and secret are installation secrets; the per-connection grant (refresh token) is the company's."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from crm.calendars.port import CalendarUnauthorized
from crm.secrets import SecretsError

GOOGLE_CLIENT_ID = "calendars/google-client-id"
GOOGLE_CLIENT_SECRET = "calendars/google-client-secret"
MICROSOFT_CLIENT_ID = "calendars/microsoft-client-id"
MICROSOFT_CLIENT_SECRET = "calendars/microsoft-client-secret"
GOOGLE_SCOPE = "https://www.googleapis.com/auth/calendar"
MICROSOFT_SCOPE = "offline_access Calendars.ReadWrite"


@dataclass(frozen=True)
class Endpoints:
    calcom_api: str  # …/v2
    google_api: str  # …/calendar/v3
    google_auth: str  # the consent page
    google_token: str
    microsoft_graph: str  # …/v1.0
    microsoft_login: str  # …/{tenant}/oauth2/v2.0 (authorize, token)


REAL = Endpoints(
    calcom_api="https://api.cal.com/v2",
    google_api="https://www.googleapis.com/calendar/v3",
    google_auth="https://accounts.google.com/o/oauth2/v2/auth",
    google_token="https://oauth2.googleapis.com/token",
    microsoft_graph="https://graph.microsoft.com/v1.0",
    microsoft_login="https://login.microsoftonline.com/common/oauth2/v2.0",
)


def endpoints() -> Endpoints:
    sandbox = current_app.config["LEADCHAIN"].providers.sandbox_url
    if not sandbox:
        return REAL
    base = sandbox.rstrip("/")
    return Endpoints(
        calcom_api=f"{base}/calcom/v2",
        google_api=f"{base}/google/calendar/v3",
        google_auth=f"{base}/google/o/oauth2/v2/auth",
        google_token=f"{base}/google/token",
        microsoft_graph=f"{base}/microsoft/v1.0",
        microsoft_login=f"{base}/microsoft/common/oauth2/v2.0",
    )


@dataclass(frozen=True)
class OAuthApp:
    token_url: str
    client_id: str
    client_secret: str
    scope: str

    def __repr__(self) -> str:
        return f"OAuthApp(token_url={self.token_url!r}, client_id={self.client_id!r})"  # never the secret


def oauth_app(kind: str) -> OAuthApp:
    """The installation's OAuth client for "google" or "microsoft"; a missing one refuses like a revoked grant
    (nothing can be refreshed until the installation is configured)."""
    store = current_app.extensions["leadchain.secrets"]
    names = (
        (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET) if kind == "google" else (MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET)
    )
    try:
        client_id, client_secret = store.get(names[0]), store.get(names[1])
    except SecretsError as exc:
        raise CalendarUnauthorized(f"OAuth client not readable ({type(exc).__name__})") from None
    if not client_id or not client_secret:
        raise CalendarUnauthorized(f"the installation has no {kind} OAuth client ({names[0]})")
    where = endpoints()
    if kind == "google":
        return OAuthApp(where.google_token, client_id, client_secret, GOOGLE_SCOPE)
    return OAuthApp(f"{where.microsoft_login}/token", client_id, client_secret, MICROSOFT_SCOPE)
