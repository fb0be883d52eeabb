"""OAuth 2.0 access for Google and Microsoft calendar connections: the refresh token lives in the secrets store
(Vault) under the connection's secret name, the short-lived access token only in this process's memory.

* An access token is refreshed when it is within a minute of expiry, or once when the API answers 401.
* A rotated refresh token (Microsoft rotates on every refresh) is written back to the store before it is
  used, so a crash cannot leave the store holding a token the service no longer accepts.
* `invalid_grant` (revoked consent, changed password, expired grant) raises CalendarUnauthorized: the sync
  marks the connection broken and keeps its busy rows; nothing falls back to "free". Only the error code
  (and Microsoft's AADSTS numbers) are kept, never the token or the full description."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from crm.calendars.endpoints import OAuthApp
from crm.calendars.port import CalendarUnauthorized, CalendarUnavailable
from crm.secrets import Secrets, SecretsError

log = logging.getLogger(__name__)
EARLY_S = 60.0
# secret name -> (access token, monotonic expiry); shared by every port of a connection in this process.
_ACCESS: dict[str, tuple[str, float]] = {}
_LOCK = threading.Lock()


def forget(secret_ref: str) -> None:
    """Drop the cached access token of a grant (a new grant was stored under the same name: reconnected)."""
    with _LOCK:
        _ACCESS.pop(secret_ref, None)


class TokenSource:
    def __init__(self, app: OAuthApp, secret_ref: str, store: Secrets, http: httpx.Client) -> None:
        self.app, self.secret_ref, self.store, self.http = app, secret_ref, store, http

    def __repr__(self) -> str:
        return f"TokenSource(secret_ref={self.secret_ref!r})"

    def access_token(self) -> str:
        with _LOCK:
            cached = _ACCESS.get(self.secret_ref)
        if cached is not None and cached[1] - EARLY_S > time.monotonic():
            return cached[0]
        return self.refresh()

    def invalidate(self) -> None:
        forget(self.secret_ref)

    def refresh(self) -> str:
        try:
            refresh_token = self.store.get(self.secret_ref)
        except SecretsError as exc:
            raise CalendarUnavailable(f"grant not readable ({type(exc).__name__})") from None
        if not refresh_token:
            raise CalendarUnauthorized("no grant stored: connect the calendar again")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.app.client_id,
            "client_secret": self.app.client_secret,
            "scope": self.app.scope,
        }
        try:
            response = self.http.post(self.app.token_url, data=form)
        except httpx.HTTPError as exc:
            raise CalendarUnavailable(f"token endpoint unreachable ({type(exc).__name__})") from None
        body = _json(response)
        if response.status_code in (400, 401):
            raise CalendarUnauthorized(f"grant refused: {_refusal(body)}; connect the calendar again")
        if response.status_code != 200 or not isinstance(body.get("access_token"), str):
            raise CalendarUnavailable(f"token endpoint answered HTTP {response.status_code}")
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != refresh_token:
            self._keep(rotated)
        expires = float(body.get("expires_in") or 3600)
        with _LOCK:
            _ACCESS[self.secret_ref] = (body["access_token"], time.monotonic() + expires)
        return str(body["access_token"])

    def _keep(self, rotated: str) -> None:
        put = getattr(self.store, "put", None)
        if put is None:
            raise CalendarUnavailable("the secrets store cannot keep the rotated grant")
        try:
            put(self.secret_ref, rotated)
        except SecretsError as exc:
            # The old refresh token stays valid for a while at Microsoft; the next round tries again.
            raise CalendarUnavailable(f"rotated grant not stored ({type(exc).__name__})") from None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _refusal(body: dict[str, Any]) -> str:
    """The error code and AADSTS numbers of a token refusal: enough for the admin, nothing secret."""
    code = str(body.get("error") or "refused")[:40]
    numbers = [str(n) for n in body.get("error_codes") or [] if isinstance(n, int)]
    return code + (f" (AADSTS{', AADSTS'.join(numbers)})" if numbers else "")


class BearerApi:
    """JSON requests with the connection's access token; one refresh and retry on a 401; transport errors,
    429 and 5xx are CalendarUnavailable."""

    def __init__(self, base: str, tokens: TokenSource, http: httpx.Client, service: str) -> None:
        self.base, self.tokens, self.http, self.service = base.rstrip("/"), tokens, http, service

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        full = url if url.startswith("http") else self.base + url
        for attempt in range(2):
            headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {self.tokens.access_token()}"}
            try:
                response = self.http.request(method, full, headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                raise CalendarUnavailable(f"{self.service} unreachable ({type(exc).__name__})") from None
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
            if response.status_code == 401 and attempt == 0:
                self.tokens.invalidate()
                continue
            break
        if response.status_code == 401:
            raise CalendarUnauthorized(f"{self.service} refused the access token (HTTP 401)")
        if response.status_code == 429 or response.status_code >= 500:
            raise CalendarUnavailable(f"{self.service} answered HTTP {response.status_code}")
        return response
