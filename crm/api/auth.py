"""API-key authentication. Keys live in the secrets backend as "client:key" entries under api/keys."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, request

from crm import secret_names
from crm.errors import ApiError


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def authenticate() -> str:
    """Return the calling client's name, or answer 401. Constant-time over every configured key."""
    header = request.headers.get("Authorization", "")
    presented = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
    if not presented:
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
