"""API-key authentication. Keys live in the secrets backend as "client:key" entries under api/keys."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, RateLimiter

from crm import secret_names
from crm.errors import ApiError
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


def authenticate() -> str:
    """Return the calling client's name, or answer 401 (429 once the client's IP failed too often).
    Constant-time over every configured key."""
    API_KEY_FAILURES.check()
    header = request.headers.get("Authorization", "")
    presented = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
    if not presented:
        API_KEY_FAILURES.failed()
        raise ApiError(
            401, "API key required (Authorization: Bearer <key> or X-API-Key)", headers={"WWW-Authenticate": "Bearer"}
        )
    wanted = _digest(presented)
    client = None
    for entry in current_app.extensions["leadchain.secrets"].get_list(secret_names.API_KEYS):
        name, sep, key = entry.partition(":")
        if sep and key and hmac.compare_digest(_digest(key), wanted) and client is None:
            client = name
    if client is None:
        API_KEY_FAILURES.failed()
        raise ApiError(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return client


def api_key_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Authenticate before anything else runs (query parsing included): a caller without a valid key
    learns nothing, not even which of its parameters are wrong."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        authenticate()
        return view(*args, **kwargs)

    return wrapper
