"""The argon2id hasher of passwords and recovery codes (docs/compliance.md §S1): RFC 9106's low-memory
profile in production, the cheapest one when the app runs tests (UI_ARGON2_CHEAP)."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher, profiles
from flask import current_app


@lru_cache(maxsize=2)
def _hasher(cheap: bool) -> PasswordHasher:
    return PasswordHasher.from_parameters(profiles.CHEAPEST if cheap else profiles.RFC_9106_LOW_MEMORY)


def hasher() -> PasswordHasher:
    return _hasher(bool(current_app.config.get("UI_ARGON2_CHEAP")))


@lru_cache(maxsize=2)
def _dummy_hash(cheap: bool) -> str:
    return _hasher(cheap).hash("no user has this password, it only spends the time of a real check")


def dummy_hash() -> str:
    """A hash no password matches: an unknown email costs the same check as a known one."""
    return _dummy_hash(bool(current_app.config.get("UI_ARGON2_CHEAP")))
