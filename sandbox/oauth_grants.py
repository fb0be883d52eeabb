"""OAuth 2.0 grants as Google's and Microsoft's token endpoints keep them (docs/calendars.md §C4).

One `Grants` per provider: an authorization code (from the consent page, auto-approved here) is exchanged
for an access token and a refresh token; a refresh_token grant gives a new access token (Microsoft also
rotates the refresh token, Google keeps it); a revoked account answers `invalid_grant` on every refresh and
401 on every API call. The error bodies are the providers' own shapes, built by the provider modules."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Account:
    """One end user who consented: the sandbox's calendar owner (e.g. "rep@example.com")."""

    email: str
    revoked: bool = False


@dataclass
class Grants:
    client_id: str
    client_secret: str
    rotate_refresh: bool  # Microsoft rotates the refresh token on every refresh; Google keeps it
    access_ttl_s: int = 3599
    _codes: dict[str, str] = field(default_factory=dict)
    _refresh: dict[str, str] = field(default_factory=dict)  # refresh token -> account email
    _access: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (email, expires monotonic)
    accounts: dict[str, Account] = field(default_factory=dict)
    refreshes: int = 0  # counters the tests read
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def authorize(self, email: str) -> str:
        """The consent page's answer: a one-time code for the account (created on first consent)."""
        code = "code-" + secrets.token_urlsafe(16)
        with self._lock:
            account = self.accounts.setdefault(email, Account(email))
            account.revoked = False
            self._codes[code] = email
        return code

    def client_ok(self, client_id: str | None, client_secret: str | None) -> bool:
        return client_id == self.client_id and client_secret == self.client_secret

    def exchange(self, code: str) -> tuple[str, str] | None:
        """(access token, refresh token) for a code, once; None for an unknown or used code."""
        with self._lock:
            email = self._codes.pop(code, None)
            if email is None:
                return None
            refresh = "rt-" + secrets.token_urlsafe(24)
            self._refresh[refresh] = email
            return self._issue(email), refresh

    def refresh(self, token: str) -> tuple[str, str] | None:
        """(access token, refresh token to keep) or None: unknown, rotated away, or the account revoked."""
        with self._lock:
            email = self._refresh.get(token)
            if email is None or self.accounts[email].revoked:
                return None
            self.refreshes += 1
            if self.rotate_refresh:
                del self._refresh[token]
                token = "rt-" + secrets.token_urlsafe(24)
                self._refresh[token] = email
            return self._issue(email), token

    def _issue(self, email: str) -> str:
        access = "at-" + secrets.token_urlsafe(24)
        self._access[access] = (email, time.monotonic() + self.access_ttl_s)
        return access

    def bearer(self, header: str | None) -> str | None:
        """The account an `Authorization: Bearer` header stands for, or None (missing, expired, revoked)."""
        if not header or not header.startswith("Bearer "):
            return None
        with self._lock:
            found = self._access.get(header[7:].strip())
            if found is None or found[1] < time.monotonic() or self.accounts[found[0]].revoked:
                return None
            return found[0]

    def revoke(self, email: str) -> None:
        """The user withdrew consent (or changed the password): every token of the account stops working."""
        with self._lock:
            self.accounts.setdefault(email, Account(email)).revoked = True
            for token, (owner, _) in list(self._access.items()):
                if owner == email:
                    del self._access[token]

    def expire_access_tokens(self) -> None:
        """Tests: every access token is past its lifetime (the next API call needs a refresh)."""
        with self._lock:
            self._access = {t: (e, 0.0) for t, (e, _) in self._access.items()}

    def account_of_token(self, token: str) -> str | None:
        with self._lock:
            if token in self._refresh:
                return self._refresh[token]
            found = self._access.get(token)
            return found[0] if found else None
