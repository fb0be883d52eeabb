"""The TOTP secret sealed before it reaches the database (docs/security.md; the brief: no secret in the
database). The server must read the secret back to check a code, so it is encrypted, not hashed: Fernet
(AES-128-CBC with HMAC-SHA256, from `cryptography`), under a key derived with HKDF from the app's chain key
in the secrets store. The chain key is the one secret that is never rotated (chain ids are made from it),
so enrolments survive a rotation of the session key; a database dump alone opens nothing."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from crm import secret_names

PREFIX = "f1:"  # the format of a sealed secret; a bare value is refused as unreadable


class TotpKeyMissing(RuntimeError):
    """The chain key is not set: no secret can be sealed or opened."""


def _fernet() -> Fernet:
    key = current_app.extensions["leadchain.secrets"].get(secret_names.APP_CHAIN_KEY)
    if not key:
        raise TotpKeyMissing("secret app/chain-key is not set: two-factor secrets cannot be sealed or read")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"leadchain totp secret v1").derive(
        key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret: str) -> str:
    return PREFIX + _fernet().encrypt(secret.encode()).decode()


def unseal(stored: str | None) -> str | None:
    """The secret, or None when nothing readable is stored (then no code is accepted)."""
    if not stored or not stored.startswith(PREFIX):
        return None
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        return None
