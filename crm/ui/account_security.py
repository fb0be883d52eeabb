"""Pages of two-factor sign-in: the code step after the password, enrolment and its management, and the
guard that sends a user who must use two-factor to enrolment first (crm.ui.two_factor has the rules).

Between the password and the code the browser holds a half sign-in (crm.ui.two_factor.start_code_step): it
grants nothing but the code form for five minutes; wrong codes are throttled per account and per IP like
passwords (5/minute, 20/hour, in the shared limiter storage)."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required

from crm.ui import two_factor
from crm.ui.auth import own_record, reauthenticate, safe_next, user_by_id
from crm.ui.i18n import _
from crm.ui.security import limiter, sign_in

log = logging.getLogger(__name__)
bp = Blueprint("account", __name__)

# What a signed-in user who must enrol still reaches: enrolment itself, signing out, the language switch.
OPEN_WHILE_ENROLLING = {"account.two_factor", "auth.logout", "auth.set_language", "ui.static", "static"}
NON_UI_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/readyz", "/unsubscribe/", "/appointment/")


def _code_key() -> str:
    return f"{get_remote_address()}|code|{session.get(two_factor.PENDING_USER)}"


def _failed(response) -> bool:
    return response.status_code != 302


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN_ACCOUNT"],
    key_func=_code_key,
    methods=["POST"],
    deduct_when=_failed,
    scope="login-code",
)
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN_IP"], methods=["POST"], deduct_when=_failed, scope="login-code-ip"
)
def login_code():
    """The second step of signing in: a code from the authenticator app, or a recovery code."""
    user_id = two_factor.pending_user_id()
    if user_id is None:
        flash(_("Please sign in again."), "info")
        return redirect(url_for("auth.login"))
    status = 200
    if request.method == "POST":
        user = user_by_id(user_id)
        if user is not None and two_factor.verify(user, request.form.get("code") or ""):
            next_url = safe_next(session.get(two_factor.PENDING_NEXT))
            two_factor.persist(user)  # the used step or recovery code, before the session starts
            sign_in(user)
            log.info("login ok user=%s second factor", user.id)
            if not user.recovery_code_hashes:
                flash(_("You have no recovery codes left. Please make new ones."), "info")
            return redirect(next_url)
        log.warning("login code wrong")
        flash(_("The code is wrong or was used already."), "error")
        status = 401
    return render_template("ui/login_code.html"), status


@bp.route("/account/two-factor", methods=["GET", "POST"], endpoint="two_factor")
@login_required
def two_factor_settings():
    """Enrol in two-factor sign-in, make new recovery codes, or turn it off (each asks for the password and,
    once enrolled, a code again)."""
    problems: list[str] = []
    codes: list[str] | None = None
    me = current_user._get_current_object()
    if request.method == "POST":
        action = request.form.get("action")
        if action not in ("enable", "recovery", "disable"):
            problems = [_("Unknown action.")]
        else:
            problems = reauthenticate(me, request.form.get("password") or "", request.form.get("code") or "")
        if not problems:
            problems, codes = _apply(action or "")
    with own_record() as row:
        secret = None if two_factor.enrolled(row) else two_factor.pending_secret()
        view = {
            "enrolled": two_factor.enrolled(row),
            "required": two_factor.required(row),
            "left": two_factor.recovery_codes_left(row),
            "secret": two_factor.grouped(secret) if secret else None,
            "uri": two_factor.provisioning_uri(row, secret) if secret else None,
        }
    status = 422 if problems else 200
    return render_template("ui/two_factor.html", problems=problems, codes=codes, **view), status


def _apply(action: str) -> tuple[list[str], list[str] | None]:
    codes = None
    with own_record() as row:
        if action == "enable":
            codes = two_factor.enable(row, request.form.get("new_code") or "")
            if codes is None:
                return [_("The code from the app does not match. Check the app's clock and try again.")], None
            flash(_("Two-factor sign-in is on. Keep the recovery codes in a safe place."), "success")
        elif action == "recovery":
            codes = two_factor.new_recovery_codes(row)
            flash(_("New recovery codes made; the old ones no longer work."), "success")
        elif two_factor.required(row):
            return [_("Two-factor sign-in is required for your account.")], None
        else:
            two_factor.disable(row)
            flash(_("Two-factor sign-in is off."), "info")
    log.info("two-factor %s user=%s", action, current_user.id)
    return [], codes


@bp.before_app_request
def _enrol_first() -> ResponseReturnValue | None:
    """A user who must use two-factor and has not enrolled reaches only enrolment (and sign-out)."""
    if request.path.startswith(NON_UI_PREFIXES) or request.endpoint in OPEN_WHILE_ENROLLING:
        return None
    if not getattr(current_user, "is_authenticated", False):
        return None
    me = current_user._get_current_object()
    if two_factor.enrolled(me) or not two_factor.required(me):
        return None
    if request.headers.get("HX-Request"):
        return "", 204, {"HX-Redirect": url_for("account.two_factor")}
    return redirect(url_for("account.two_factor"))
