"""Two-factor sign-in with time-based codes (TOTP, RFC 6238, pyotp) and recovery codes (docs/security.md).

Who must: admins and platform operators (SecuritySettings.two_factor_for_admins, on unless the app runs in
testing mode), and everyone of a company that chose "two-factor for everyone"; anyone else may enrol. A
code is accepted once: the step it belongs to is stored, and a code of that step or an earlier one is
refused, so a code seen over a shoulder or in a proxy log cannot be replayed. Recovery codes are shown
once and stored as argon2 hashes; each works once.

Changing two-factor or the password asks again for the password and, when enrolled, a code
(crm.ui.auth.reauthenticate)."""

from __future__ import annotations

import hmac
import secrets
import time

import pyotp
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, redirect, session, url_for
from flask.typing import ResponseReturnValue

from crm.extensions import db
from crm.models import Role, User
from crm.models.companies import Company
from crm.models.types import utcnow
from crm.tenancy.context import operator_scope
from crm.ui import totp_box
from crm.ui.password_hashing import hasher

STEP_S = 30
# One step either side: a phone clock a little off still works (RFC 6238 §5.2 recommends at most one).
DRIFT_STEPS = 1
RECOVERY_CODES = 10
ISSUER = "leadchain"


def enrolled(user: User) -> bool:
    return user.totp_enabled_at is not None and bool(user.totp_secret)


def required(user: User) -> bool:
    """Whether `user` may use the CRM only with two-factor sign-in (cached for the request)."""
    cached = getattr(g, "two_factor_required", None)
    if cached is not None and cached[0] == user.id:
        return bool(cached[1])
    security = current_app.config["LEADCHAIN"].security
    for_admins = security.two_factor_for_admins
    if for_admins is None:
        for_admins = not current_app.testing
    must = bool(for_admins) and user.role in (Role.ADMIN, Role.OPERATOR)
    if not must and user.company_id is not None:
        company = db.session.get(Company, user.company_id)
        must = company is not None and bool(company.require_two_factor)
    g.two_factor_required = (user.id, must)
    return must


# ---- enrolment ---------------------------------------------------------------------------------------


ENROLLING = "tfa_enrolling"


def pending_secret() -> str:
    """The secret being enrolled: made on the first visit and kept in the (signed, HttpOnly) session cookie
    until enrolment ends, so showing the page writes nothing; it is the secret the page shows anyway."""
    secret = session.get(ENROLLING)
    if not isinstance(secret, str) or len(secret) != 32:
        secret = pyotp.random_base32()
        session[ENROLLING] = secret
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app imports (the QR code's content)."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def grouped(secret: str) -> str:
    """The secret in groups of four, to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def enable(user: User, code: str) -> list[str] | None:
    """Finish enrolment when `code` matches the pending secret: returns the recovery codes (shown once), or
    None for a wrong code. Does not commit."""
    secret = session.get(ENROLLING)
    if enrolled(user) or not isinstance(secret, str):
        return None
    user.totp_secret, user.totp_last_step = totp_box.seal(secret), None
    if not _accept(user, code):
        user.totp_secret = None
        return None
    session.pop(ENROLLING, None)
    user.totp_enabled_at = utcnow()
    return new_recovery_codes(user)


def disable(user: User) -> None:
    """Turn two-factor off (the caller checked that the user may). Does not commit."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.recovery_code_hashes = None


def new_recovery_codes(user: User) -> list[str]:
    """Fresh recovery codes replacing the old ones; returned once, stored hashed. Does not commit."""
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    user.recovery_code_hashes = [hasher().hash(_normal(c)) for c in codes]
    return codes


def _recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 random bits each; ten of them, each usable once, behind the password
    return f"{raw[:5]}-{raw[5:]}"


def _normal(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


# ---- checking --------------------------------------------------------------------------------------


def verify(user: User, code: str) -> bool:
    """A current TOTP code or an unused recovery code of an enrolled user (a recovery code is used up).
    Does not commit."""
    if not enrolled(user):
        return False
    code = "".join((code or "").split())[:32]
    if code.isdigit() and len(code) == 6:
        return _accept(user, code)
    return _use_recovery_code(user, code)


def _accept(user: User, code: str) -> bool:
    code = "".join((code or "").split())
    secret = totp_box.unseal(user.totp_secret)
    if not (code.isdigit() and len(code) == 6) or secret is None:
        return False
    totp = pyotp.TOTP(secret)
    now_step = int(time.time()) // STEP_S
    last = user.totp_last_step if user.totp_last_step is not None else -1
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if step > last and hmac.compare_digest(totp.at(step * STEP_S), code):
            user.totp_last_step = step
            return True
    return False


def _use_recovery_code(user: User, code: str) -> bool:
    wanted = _normal(code)
    if len(wanted) != 10:
        return False
    hashes = list(user.recovery_code_hashes or [])
    for stored in hashes:
        try:
            hasher().verify(stored, wanted)
        except (VerificationError, InvalidHashError):
            continue
        hashes.remove(stored)
        user.recovery_code_hashes = hashes
        return True
    return False


def persist(user: User) -> None:
    """Store what `verify` used up (the step, a recovery code). A company's user is the request's own row; an
    operator's loaded copy is detached (crm.ui.security), so the row is written in an operator context."""
    if user.company_id is not None:
        db.session.commit()
        return
    if db.session().in_transaction():
        db.session.commit()
    with operator_scope(f"user:{user.id}", "second factor used"):
        row = db.session.get(User, user.id)
        if row is not None:
            row.totp_last_step, row.recovery_code_hashes = user.totp_last_step, user.recovery_code_hashes
            db.session.commit()


def recovery_codes_left(user: User) -> int:
    return len(user.recovery_code_hashes or [])


# ---- the half sign-in between password and code ----------------------------------------------------

PENDING_USER, PENDING_UNTIL, PENDING_NEXT = "tfa_user", "tfa_until", "tfa_next"
PENDING_FOR_S = 300


def start_code_step(user_id: int, next_url: str) -> ResponseReturnValue:
    """After a right password of an enrolled user: remember the half sign-in (the user's id and a deadline in
    the signed cookie, no server session yet) and ask for the code (crm.ui.account_security)."""
    session.clear()
    session[PENDING_USER] = user_id
    session[PENDING_UNTIL] = int(time.time()) + PENDING_FOR_S
    session[PENDING_NEXT] = next_url
    return redirect(url_for("account.login_code"))


def pending_user_id() -> int | None:
    user_id, until = session.get(PENDING_USER), session.get(PENDING_UNTIL)
    if not isinstance(user_id, int) or not isinstance(until, int) or until < time.time():
        return None
    return user_id
