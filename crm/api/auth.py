"""API-key authentication: each key is one company's, and the key binds the request to that company.

Keys are rows of api_keys (crm.models.api_keys: only the key's SHA-256, made by crm.api.keys). Each carries
scopes (intake, read, manage): a route names the scope it needs and a key without it gets a 403. Accepted
requests are counted per key (LEADCHAIN_RATELIMIT_API_KEY) in the rate limiter's shared storage: past it, a 429
with Retry-After. The installation's keys from before companies, "client:key" entries of the secrets store's
api/keys, keep working with every scope: they act for the installation's company
(crm.tenancy.routing.DEFAULT_COMPANY_ID)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, RateLimiter

from crm import secret_names
from crm.api import keys
from crm.errors import ApiError
from crm.extensions import db
from crm.models.api_keys import ALL_SCOPES, Scope
from crm.models.companies import Company
from crm.tenancy import routing
from crm.tenancy.context import operator_scope
from crm.tenancy.web import bind_request_company
from crm.ui.security import limiter

log = logging.getLogger(__name__)
T = TypeVar("T")


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


class FailureThrottle:
    """Failed credentials (API keys, webhook signatures) per client IP, counted in the rate limiter's
    storage (Redis in the stack, so every gunicorn worker and web replica shares one count).

    `check()` before verifying: a client that used up LEADCHAIN_AUTH_FAILURE_LIMIT (30/minute) gets a 429
    with Retry-After and its guesses are not even checked; `failed()` counts one failure."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def _args(self) -> tuple[RateLimitItem, str, str]:
        limit = parse(current_app.config["LEADCHAIN"].security.auth_failure_limit)
        prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
        return limit, f"{prefix}auth-failures/{self.kind}", get_remote_address()

    def check(self) -> None:
        limit, *key = self._args()
        over = _counted(lambda counter: not counter.test(limit, *key))
        if over:
            reset_at, _remaining = _counted(lambda counter: counter.get_window_stats(limit, *key))
            retry_after = max(1, math.ceil(reset_at - time.time()))
            raise ApiError(429, "too many failed attempts, retry later", headers={"Retry-After": str(retry_after)})

    def failed(self) -> None:
        limit, *key = self._args()
        _counted(lambda counter: counter.hit(limit, *key))


# While the shared storage is down, this process counts on its own (as flask-limiter's in-memory
# fallback does for the login limits): looser by the number of processes, never unlimited, never a 500.
_LOCAL = MovingWindowRateLimiter(MemoryStorage())


_LOCAL_UNTIL = [0.0]  # after a storage failure, count locally this long before trying it again
LOCAL_FOR_S = 10.0


def _counted(op: Callable[[RateLimiter], T]) -> T:
    if time.monotonic() < _LOCAL_UNTIL[0]:
        return op(_LOCAL)
    try:
        return op(limiter.limiter)
    except Exception as e:  # noqa: BLE001 (redis/limits raise their own connection errors)
        log.warning("rate-limit storage unavailable (%s): counting in this process", type(e).__name__)
        _LOCAL_UNTIL[0] = time.monotonic() + LOCAL_FOR_S
        return op(_LOCAL)


API_KEY_FAILURES = FailureThrottle("api-key")


class UsageQuota:
    """Accepted requests per credential (an API key, a webhook source), counted where FailureThrottle counts:
    the limit holds across every web process. Counted after the credential verified, so a stranger's bad
    requests never use up a real client's allowance (those meet FailureThrottle)."""

    def __init__(self, kind: str, setting: str) -> None:
        self.kind = kind
        self.setting = setting  # the SecuritySettings field holding the limit ("6000/minute")

    def spend(self, who: str) -> None:
        """Count one request of `who`; past the limit a 429 with Retry-After (and this one is not served)."""
        limit = parse(getattr(current_app.config["LEADCHAIN"].security, self.setting))
        key = (f"{current_app.config.get('RATELIMIT_KEY_PREFIX') or ''}quota/{self.kind}", who)
        if _counted(lambda counter: counter.hit(limit, *key)):
            return
        reset_at, _remaining = _counted(lambda counter: counter.get_window_stats(limit, *key))
        retry_after = max(1, math.ceil(reset_at - time.time()))
        message = f"rate limit of this {self.kind} reached, retry later"
        raise ApiError(429, message, headers={"Retry-After": str(retry_after)})


API_KEY_QUOTA = UsageQuota("api key", "api_key_limit")
SOURCE_QUOTA = UsageQuota("webhook source", "source_limit")


def authenticate(scope: Scope | None = None) -> str:
    """Return the calling client's name and bind the request to the key's company, or answer 401 (429 once
    the client's IP failed too often, or the key used up its rate). A key of a deactivated company, a revoked
    or an expired one is a bad key; a good key without `scope` is a 403 naming the scope."""
    API_KEY_FAILURES.check()
    header = request.headers.get("Authorization", "")
    presented = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
    if not presented:
        API_KEY_FAILURES.failed()
        raise ApiError(
            401, "API key required (Authorization: Bearer <key> or X-API-Key)", headers={"WWW-Authenticate": "Bearer"}
        )
    match = routing.company_of_api_key(presented)
    if match is not None:
        API_KEY_QUOTA.spend(f"key:{match.key_id}")
        _require_scope(scope, match.scopes)
        bind_request_company(match.company_id)
        return match.name
    client = _installation_client(presented)
    if client is None or not routing.company_is_active(routing.DEFAULT_COMPANY_ID):
        API_KEY_FAILURES.failed()
        raise ApiError(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    API_KEY_QUOTA.spend(f"installation:{client}")
    bind_request_company(routing.DEFAULT_COMPANY_ID)
    return client


def _require_scope(scope: Scope | None, granted: frozenset[str]) -> None:
    if scope is not None and scope.value not in granted:
        raise ApiError(
            403,
            f"this API key lacks the scope {scope.value!r}",
            {"Authorization": [f"scope {scope.value!r} required; the key has {' '.join(sorted(granted)) or 'none'}"]},
        )


def _installation_client(presented: str) -> str | None:
    """The client name of an installation key (api/keys), compared in constant time over every entry."""
    wanted = _digest(presented)
    client = None
    for entry in current_app.extensions["leadchain.secrets"].get_list(secret_names.API_KEYS):
        name, sep, key = entry.partition(":")
        if sep and key and hmac.compare_digest(_digest(key), wanted) and client is None:
            client = name
    return client


def api_key_required(scope: Scope) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Authenticate (with `scope`) before anything else runs, query parsing included: a caller without a
    valid key learns nothing, not even which of its parameters are wrong."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authenticate(scope)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def issue_api_key(company_slug: str, name: str, scopes: str = ALL_SCOPES) -> str:
    """A key for the active company `company_slug` (`leadchain api-key create`), shown once; crm.api.keys
    says what is stored. An unknown or deactivated company, or a name a live key has, is a ValueError."""
    with operator_scope("cli:api-key", "create an API key"):
        company_id = db.session.scalar(
            sa.select(Company.id).where(Company.slug == company_slug, Company.active.is_(True))
        )
        if company_id is None:
            raise ValueError(f"company: no active company {company_slug!r}")
        key = keys.issue(company_id, name, scopes.split())
        db.session.commit()
    return key.secret
