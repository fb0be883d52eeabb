"""Sign-in and sign-out, the language switch, one's own password; password hashing and policy.

Passwords (docs/compliance.md §S1): argon2id (argon2-cffi), at least 15 characters, up to 256 (so 64+ work),
not in the bundled list of common passwords, not the user's email. A login answers the same generic
message for an unknown email, a wrong password and a deactivated account, and takes the same time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, abort, current_app, flash, g, make_response, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required

from crm.extensions import db
from crm.models import User
from crm.models.companies import Company
from crm.tenancy.context import operator_scope
from crm.tenancy.routing import platform_lookup
from crm.tenancy.web import bind_request_company
from crm.ui import two_factor
from crm.ui.i18n import LANG_COOKIE, _, normalise_language
from crm.ui.password_hashing import dummy_hash, hasher
from crm.ui.security import limiter, revoke_sessions, sign_in, sign_out

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

MIN_LENGTH = 15
MAX_LENGTH = 256

# Passwords of 15+ characters that lists of leaked passwords show again and again.
COMMON_PASSWORDS = frozenset(
    """
123456789012345 1234567890123456 12345678901234567890 000000000000000 111111111111111
passwordpassword password1234567 password12345678 passwort1234567 passwortpasswort
qwertyuiopasdfgh qwertyuiopasdfghjkl qwertzuiopasdfgh qwertzuiopasdfghjkl 1q2w3e4r5t6y7u8i
1qaz2wsx3edc4rfv qazwsxedcrfvtgb abcdefghijklmno abcdefghijklmnop abcdefghijklmnopqrstuvwxyz
iloveyouiloveyou letmeinletmein123 welcome12345678 willkommen12345 administrator123 administrator1234
changemechangeme changeme1234567 trustno1trustno1 monkeymonkeymonkey dragondragondragon
correcthorsebatterystaple correct horse battery staple leadchainleadchain leadchain123456
sommer2024sommer winter2024winter passwort123456789 hallohallohallo geheimgeheimgeheim
""".split()
) | {"correct horse battery staple", "ich liebe dich ich liebe dich"}


def password_problems(password: str, *, email: str | None = None) -> list[str]:
    """Why `password` may not be used (empty list: fine). Messages are translated."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(_("The password needs at least %(num)d characters.", num=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        problems.append(_("The password may have at most %(num)d characters.", num=MAX_LENGTH))
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) <= 2:
        problems.append(_("This password is too common. Please choose another one."))
    elif email and lowered.strip() in {email.lower(), email.split("@")[0].lower()}:
        problems.append(_("The password must not be your email address."))
    return problems


def set_password(user: User, password: str) -> None:
    """Check, hash and store a new password; every other session of the user ends. Does not commit."""
    problems = password_problems(password, email=user.email)
    if problems:
        raise ValueError(" ".join(problems))
    user.password_hash = hasher().hash(password)
    revoke_sessions(user.id, "password", keep_current=True)


@dataclass(frozen=True)
class _Credentials:
    user_id: int
    company_id: int | None
    password_hash: str | None
    active: bool


def _credentials(email: str) -> _Credentials | None:
    """The account with this email, whatever its company: a login names only an email, and the company is
    the one of the user it finds (docs/tenancy.md rule 2). Read in a short operator context, as plain values."""
    with platform_lookup("login"):
        row = db.session.execute(
            sa.select(User.id, User.company_id, User.password_hash, User.active, Company.active.label("company_active"))
            .outerjoin(Company, Company.id == User.company_id)
            .where(sa.func.lower(User.email) == email.strip().lower())
        ).first()
        if row is None:
            return None
        # A deactivated company's users cannot sign in (an operator has no company).
        active = bool(row.active) and (row.company_id is None or bool(row.company_active))
        return _Credentials(row.id, row.company_id, row.password_hash, active)


def _user_in_its_scope(found: _Credentials) -> User | None:
    """Bind the request to the user's company and load the user there; an operator is loaded in an operator
    context and binds nothing."""
    if found.company_id is None:
        with operator_scope(f"user:{found.user_id}", "sign in"):
            user = db.session.get(User, found.user_id)
            if user is not None:
                db.session.expunge(user)
            db.session.rollback()
        return user
    bind_request_company(found.company_id)
    return db.session.get(User, found.user_id)


def user_by_id(user_id: int) -> User | None:
    """The active user `user_id` (a half sign-in's, crm.ui.account_security), with the request bound to the
    user's company; None for a user gone or deactivated since the password was checked."""
    with platform_lookup("login code"):
        row = db.session.execute(
            sa.select(User.id, User.company_id, User.active, Company.active.label("company_active"))
            .outerjoin(Company, Company.id == User.company_id)
            .where(User.id == user_id)
        ).first()
        if row is None:
            return None
        found = _Credentials(row.id, row.company_id, None, bool(row.active) and row.company_active is not False)
    return _user_in_its_scope(found) if found.active else None


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None; the request is then bound to the user's
    company. Same work for every failure."""
    found = _credentials(email)
    ph = hasher()
    stored = found.password_hash if found is not None and found.password_hash else None
    try:
        ph.verify(stored or dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if stored is None or found is None or not found.active:
        return None
    user = _user_in_its_scope(found)
    if user is None:
        return None
    if ph.check_needs_rehash(stored) and user.company_id is not None:
        user.password_hash = ph.hash(password)
        db.session.commit()
    return user


def reauthenticate(user: User, password: str, code: str) -> list[str]:
    """Problems (translated) with the password and, when enrolled, the two-factor code the user typed again
    before a change to their sign-in (password, email, two-factor); empty when both are right. A borrowed,
    still signed-in browser is not enough to take the account over."""
    if authenticate(user.email, (password or "")[: MAX_LENGTH * 4]) is None:
        return [_("The current password is wrong.")]
    if two_factor.enrolled(user):
        if not two_factor.verify(user, code or ""):
            return [_("The code is wrong or was used already.")]
        two_factor.persist(user)
    return []


@contextmanager
def own_record() -> Iterator[User]:
    """The signed-in user's own row, to change and commit: the request's user for a company's user; for an
    operator (whose loaded copy is detached, crm.ui.security) the row read again in an operator context."""
    me = current_user._get_current_object()
    if me.company_id is not None and not getattr(g, "entered_company", None):
        yield me
        db.session.commit()
        return
    if db.session().in_transaction():
        db.session.commit()
    with operator_scope(f"user:{me.id}", "own account"):
        row = db.session.get(User, me.id)
        if row is None:
            abort(404)
        yield row
        db.session.commit()


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else the dashboard."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"  # a line break would end up in the Location header (a 500, or header injection)
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _account_key() -> str:
    return f"{get_remote_address()}|{(request.form.get('email') or '').strip().lower()[:254]}"


def _failed(response) -> bool:
    return response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN_ACCOUNT"],
    key_func=_account_key,
    methods=["POST"],
    deduct_when=_failed,
    scope="login-account",
)
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN_IP"], methods=["POST"], deduct_when=_failed, scope="login-ip"
)
def login():
    """Show the sign-in form; check the email and password."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(next_url)
    status = 200
    email = ""
    if request.method == "POST":
        email = (request.form.get("email") or "").strip()[:254]
        password = request.form.get("password") or ""
        user = authenticate(email, password[: MAX_LENGTH * 4]) if email and password else None
        if user is not None and two_factor.enrolled(user):
            return two_factor.start_code_step(user.id, next_url)
        if user is not None:
            sign_in(user)
            log.info("login ok user=%s", user.id)
            return redirect(next_url)
        log.warning("login failed")  # no email in the log (docs/compliance.md §S13)
        flash(_("Email or password is wrong."), "error")
        status = 401
    return render_template("ui/login.html", email=email, next_url=next_url), status


@bp.post("/logout")
def logout():
    """End this session on the server; the cookie is worthless afterwards."""
    sign_out()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def set_language():
    """The language switch: stored on the user when signed in, in a cookie for the sign-in page."""
    language = normalise_language(request.form.get("language")) or "de"
    if current_user.is_authenticated:
        with own_record() as me:
            me.language = language
        current_user.language = language
    response = make_response(redirect(safe_next(request.form.get("next"))))
    response.set_cookie(
        LANG_COOKIE,
        language,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        httponly=True,
        secure=bool(current_app.config.get("UI_COOKIE_SECURE")),
    )
    return response


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password (the current one is asked again); other sessions end."""
    problems: list[str] = []
    if request.method == "POST":
        me = current_user._get_current_object()
        current = request.form.get("current_password") or ""
        new = request.form.get("new_password") or ""
        problems = reauthenticate(me, current, request.form.get("code") or "")
        if problems:
            pass
        elif new != request.form.get("new_password_repeat"):
            problems = [_("The two new passwords differ.")]
        else:
            problems = password_problems(new, email=me.email)
        if not problems:
            with own_record() as row:
                set_password(row, new)
            flash(_("Your password has been changed. Other sessions were signed out."), "info")
            return redirect(url_for("auth.change_password"))
    enrolled = two_factor.enrolled(current_user._get_current_object())
    return render_template("ui/password.html", problems=problems, enrolled=enrolled), 422 if problems else 200
