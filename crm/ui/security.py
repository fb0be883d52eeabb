"""Sign-in plumbing for the UI: server-side sessions, CSRF, security headers, rate limits, translations.

Sessions (docs/compliance.md §S2): the Flask cookie is signed and carries the random session id (as
flask-login's ``_user_id``), the CSRF secret and flash messages, never a user id or a role. The
``user_sessions`` row, keyed by the SHA-256 of that id, is what makes the cookie valid: the user_loader
accepts it only while the row is not revoked, not idle for longer than ``UI_SESSION_IDLE`` and younger
than ``UI_SESSION_LIFETIME``. Logout, a password change and deactivation revoke rows, so a captured
cookie stops working at once. Every sign-in starts a new id (no fixation).

CSRF (S4): every POST/PUT/PATCH/DELETE needs the token, except /api/ (API keys), /webhooks/ (signatures)
and /unsubscribe/ (the signed token in the URL; RFC 8058 one-click). Forms put
``<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">``; htmx requests send it as the
``X-CSRFToken`` header (static/app.js reads ``<meta name="csrf-token">`` from base.html).

Headers (S3): flask-talisman on every response; CSP ``default-src 'self'`` without inline scripts or
styles, frame-ancestors 'none', nosniff, a referrer policy, HSTS on HTTPS.

Rate limits (S9): the login POST is limited: 5/minute per IP and account, 20/hour per IP; only
failed attempts count, so the real user is never locked out for longer than the window. Failed API keys
and webhook signatures are limited per IP too (crm.api.auth.FailureThrottle). ``LEADCHAIN_RATELIMIT_STORAGE``
(``redis://...`` in the local stack and compose) shares the counters between processes; ``memory://``
holds only for a single process."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, g, jsonify, redirect, request, session, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import AnonymousUserMixin, LoginManager, current_user, user_logged_in
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect, generate_csrf
from markupsafe import Markup
from werkzeug.middleware.proxy_fix import ProxyFix

from crm.config import SecuritySettings
from crm.extensions import affected_rows, db
from crm.models import Role, User, UserSession
from crm.models.companies import Company
from crm.models.types import utcnow
from crm.routing import MAX_ROW_ID
from crm.tenancy.context import operator_scope
from crm.tenancy.routing import company_is_active, platform_lookup
from crm.tenancy.web import bind_request_company
from crm.ui.i18n import _, init_i18n

log = logging.getLogger(__name__)

# /appointment/: the signed links in an appointment's mail, no session: the token is the authorisation
# (crm/email/appointment_page.py says why that is enough).
CSRF_EXEMPT_PREFIXES = ("/api/", "/webhooks/", "/unsubscribe/", "/appointment/")
JSON_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/readyz")
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
# The company an operator entered (crm.ui.platform), in their session cookie; the user loader re-checks it.
ENTERED_COMPANY = "entered_company"

# Record ids are INTEGER columns (PostgreSQL int4). A bigger number names no record: the UI's routes do
# not match it (404) rather than hand it to the database driver, which overflows (a 500 on both backends).
MAX_RECORD_ID = MAX_ROW_ID  # crm.routing: the one bound for row ids


csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, headers_enabled=True, strategy="moving-window")

# Templates and static files of every UI area: templates/ui/..., /ui/static/...
assets = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/ui/static")


class Anonymous(AnonymousUserMixin):
    role = None
    name = ""
    language = None
    timezone = None
    id = None


def _configure(app: Flask) -> bool:
    """Fill the UI's Flask settings from Settings.security (plain UI_* keys a test set win); returns
    whether cookies are Secure."""
    cfg = app.config
    security: SecuritySettings = cfg["LEADCHAIN"].security
    secure = cfg.get("UI_COOKIE_SECURE")
    if secure is None:
        secure = security.cookie_secure if security.cookie_secure is not None else not (app.debug or app.testing)
    cfg["UI_COOKIE_SECURE"] = secure
    cfg.setdefault("UI_SESSION_IDLE", timedelta(minutes=security.session_idle_minutes))
    cfg.setdefault("UI_SESSION_LIFETIME", timedelta(hours=security.session_lifetime_hours))
    cfg["SESSION_COOKIE_NAME"] = cfg.get("UI_SESSION_COOKIE_NAME") or (
        "__Host-leadchain" if secure else "leadchain_session"
    )
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["SESSION_COOKIE_SECURE"] = secure
    cfg.setdefault("SESSION_COOKIE_PATH", "/")
    cfg["PERMANENT_SESSION_LIFETIME"] = cfg["UI_SESSION_LIFETIME"]
    cfg.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    cfg["WTF_CSRF_CHECK_DEFAULT"] = False  # checked in _csrf_guard, with the exempt prefixes
    cfg.setdefault("RATELIMIT_STORAGE_URI", security.ratelimit_storage)
    cfg.setdefault("RATELIMIT_LOGIN_ACCOUNT", "5/minute")
    cfg.setdefault("RATELIMIT_LOGIN_IP", "20/hour")
    cfg.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # Redis down: each process counts on its own meanwhile (looser, never unlimited, never a 500).
    cfg.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    if cfg["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://")):
        # A Redis that hangs must not hang the login or an API request: then the fallback above counts.
        cfg.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_timeout": 0.5, "socket_connect_timeout": 0.5})
    # argon2 at its RFC 9106 low-memory profile in production; tests may pick a cheaper one.
    cfg.setdefault("UI_ARGON2_CHEAP", bool(app.testing))
    return secure


def init_security(app: Flask) -> None:
    secure = _configure(app)
    hops = app.config["LEADCHAIN"].security.proxy_hops
    if hops > 0:
        # Only behind known proxies: X-Forwarded-For is trusted for exactly that many hops.

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    login = LoginManager()
    login.init_app(app)
    login.login_view = "auth.login"
    login.session_protection = None  # the server-side record is the protection
    login.anonymous_user = Anonymous
    login.user_loader(_load_user)
    login.unauthorized_handler(_unauthorized)
    login.login_message = None

    csrf.init_app(app)
    app.before_request(_csrf_guard)
    app.before_request(_refuse_nul)

    app.after_request(_restore_view_headers)  # runs after Talisman's hook (reverse order)
    Talisman(
        app,
        force_https=False,
        strict_transport_security=secure,
        strict_transport_security_max_age=365 * 24 * 3600,
        session_cookie_secure=secure,
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
        content_security_policy={
            "default-src": "'self'",
            "script-src": "'self'",
            "style-src": "'self'",
            "img-src": "'self' data:",
            "object-src": "'none'",
            "base-uri": "'self'",
            # Call recordings play through the CRM's own proxy (crm.ui.recordings): no provider
            # origin, nor the sandbox's plain-http loopback, has to be allowed.
            "media-src": "'self'",
            "form-action": "'self'",
            "frame-ancestors": "'none'",
        },
        permissions_policy={"geolocation": "()", "microphone": "()", "camera": "()"},
    )
    app.after_request(_remember_view_headers)  # runs before Talisman's hook

    limiter.init_app(app)

    init_i18n(app)

    app.register_blueprint(assets)
    app.jinja_env.globals["csrf_field"] = csrf_field
    app.context_processor(_layout_context)
    app.after_request(_no_store_for_signed_in)


# --- sessions -----------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _load_user(token: str) -> User | None:
    """The signed-in user of this cookie, with the request bound to the user's company (docs/tenancy.md rule
    2). The session row is found before any company is known, in a short operator context; an operator
    (no company) binds nothing unless they entered a company on the platform pages (crm.ui.platform)."""
    now = utcnow()
    with platform_lookup("sign-in session"):
        row = db.session.execute(
            sa.select(UserSession, User.company_id, User.active, Company.active.label("company_active"))
            .join(User, User.id == UserSession.user_id)
            .outerjoin(Company, Company.id == User.company_id)
            .where(UserSession.token_hash == _hash(token))
        ).first()
        session_id, user_id, company_id = None, 0, None
        record = row[0] if row is not None else None
        if row is None or record is None:
            pass
        elif record.revoked_at is not None or record.expires_at <= now or record.idle_expires_at <= now:
            pass
        elif not row.active or (row.company_id is not None and not row.company_active):
            pass  # deactivated: the user, or the whole company (crm.ui.platform)
        else:
            if now - record.last_seen_at >= LAST_SEEN_RESOLUTION:
                record.last_seen_at = now
                record.idle_expires_at = min(now + current_app.config["UI_SESSION_IDLE"], record.expires_at)
                db.session.commit()
            session_id, user_id, company_id = record.id, record.user_id, row.company_id
    if session_id is None:
        session.pop("_user_id", None)
        return None
    g.ui_session_id = session_id
    if company_id is None:
        return _operator(user_id)
    bind_request_company(company_id)
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        session.pop("_user_id", None)
        return None
    return user


def _operator(user_id: int) -> User | None:
    """A platform operator, loaded in an operator context and detached from the session (their row is seen
    only there). Inside a company they entered (crm.ui.platform, audited) the request is bound to it and
    they act with an admin's view of it."""
    with operator_scope(f"user:{user_id}", "operator's own record"):
        user = db.session.get(User, user_id)
        if user is not None:
            db.session.expunge(user)
        db.session.rollback()
    if user is None or user.role is not Role.OPERATOR:
        session.pop("_user_id", None)
        return None
    g.operator_id = user.id
    entered = session.get(ENTERED_COMPANY)
    if isinstance(entered, int) and not isinstance(entered, bool) and entered > 0:
        if company_is_active(entered):
            bind_request_company(entered)
            g.entered_company = entered
            # The detached copy only (never flushed): inside the company they entered, an operator sees and
            # acts as its admin would; every page's role check reads this.
            user.role = Role.ADMIN
        else:
            session.pop(ENTERED_COMPANY, None)
    return user


def _unauthorized():
    if wants_json() or request.headers.get("HX-Request"):
        response = jsonify({"code": 401, "status": "Unauthorized", "message": "sign in first"})
        response.status_code = 401
        response.headers["HX-Redirect"] = url_for("auth.login")
        return response
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))


def sign_in(user: User) -> None:
    """Start a fresh server-side session for `user` (the old cookie contents are dropped). The request is
    bound to the user's company already (crm.ui.auth); an operator's session row has no company and is
    written in an operator context."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    cfg = current_app.config
    record = UserSession(
        token_hash=_hash(token),
        user_id=user.id,
        company_id=user.company_id,
        created_at=now,
        last_seen_at=now,
        idle_expires_at=now + cfg["UI_SESSION_IDLE"],
        expires_at=now + cfg["UI_SESSION_LIFETIME"],
    )
    if user.company_id is None:
        with operator_scope(f"user:{user.id}", "sign in"):
            db.session.add(record)
            db.session.commit()
    else:
        db.session.add(record)
        db.session.commit()
    session.clear()
    session.permanent = True
    session["_user_id"] = token
    session["_fresh"] = True
    g._login_user = user
    user_logged_in.send(current_app._get_current_object(), user=user)  # type: ignore[attr-defined]


def sign_out() -> None:
    """Revoke this browser's session and forget the cookie's contents. The cookie names the row (its token's
    hash); found like the user loader finds it, before a company is known."""
    token = session.get("_user_id")
    if isinstance(token, str):
        if db.session().in_transaction():
            db.session.commit()
        with platform_lookup("sign out"):
            db.session.execute(
                sa.update(UserSession)
                .where(UserSession.token_hash == _hash(token), UserSession.revoked_at.is_(None))
                .values(revoked_at=utcnow(), revoked_reason="logout")
            )
            db.session.commit()
    session.clear()
    g._login_user = None


def revoke_sessions(user_id: int, reason: str, *, keep_current: bool = False) -> int:
    """End every live session of a user (password change, deactivation, role change). Does not commit."""
    query = sa.update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    current = getattr(g, "ui_session_id", None)
    if keep_current and current is not None:
        query = query.where(UserSession.id != current)
    result = db.session.execute(query.values(revoked_at=utcnow(), revoked_reason=reason))
    return affected_rows(result) or 0


def purge_sessions(older_than: datetime) -> int:
    """Delete sessions that ended before `older_than`: expired, idle too long or revoked (housekeeping).
    The caller commits."""
    result = db.session.execute(
        sa.delete(UserSession).where(
            sa.or_(
                UserSession.expires_at < older_than,
                UserSession.idle_expires_at < older_than,
                UserSession.revoked_at < older_than,
            )
        )
    )
    return affected_rows(result) or 0


# --- request guards -----------------------------------------------------------------------------


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def _csrf_guard() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return
    if request.path.startswith(CSRF_EXEMPT_PREFIXES) or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    csrf.protect()


def _refuse_nul() -> None:
    """A NUL character in a page's query or form is never real input, and PostgreSQL refuses it in text
    (the request would fail with a 500 there and pass on SQLite): a 400 page on both. /api/ and
    /webhooks/ answer for their own bodies."""
    if request.path.startswith(CSRF_EXEMPT_PREFIXES) or request.path in ("/healthz", "/readyz"):
        return
    sources = (request.args, request.form) if request.method != "GET" else (request.args,)
    for values in sources:
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                abort(400)


# A view that sets one of these itself knows better (the unsubscribe page: no-referrer for its token URL).
VIEW_HEADERS = ("Referrer-Policy", "Content-Security-Policy", "X-Frame-Options")
# The public unsubscribe page is self-contained with an inline <style> (no scripts): allow just that.
UNSUBSCRIBE_CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def _remember_view_headers(response):
    g.ui_view_headers = {name: response.headers[name] for name in VIEW_HEADERS if name in response.headers}
    if request.path.startswith("/unsubscribe/"):
        g.ui_view_headers.setdefault("Content-Security-Policy", UNSUBSCRIBE_CSP)
    return response


def _restore_view_headers(response):
    for name, value in getattr(g, "ui_view_headers", {}).items():
        response.headers[name] = value
    return response


def _no_store_for_signed_in(response):
    # Pages with personal data must not stay in shared browser caches after logout.
    if not request.path.startswith(("/ui/static/", "/static/")) and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def csrf_field():
    """The hidden CSRF input for a form: ``{{ csrf_field() }}``."""
    return Markup('<input type="hidden" name="csrf_token" value="%s">') % generate_csrf()


# --- layout -------------------------------------------------------------------------------------

NAV = (
    # (path, English label, roles allowed)
    ("/", "Dashboard", (Role.SALES, Role.MANAGER, Role.ADMIN)),
    ("/leads", "Leads", (Role.SALES, Role.MANAGER, Role.ADMIN)),
    ("/queue", "Calls", (Role.SALES, Role.MANAGER, Role.ADMIN)),
    ("/tasks", "Tasks", (Role.SALES, Role.MANAGER, Role.ADMIN)),
    ("/deals", "Pipeline", (Role.SALES, Role.MANAGER, Role.ADMIN)),
    ("/reports", "Reports", (Role.MANAGER, Role.ADMIN)),
    ("/settings", "Settings", (Role.ADMIN,)),
    ("/platform/companies", "Companies", (Role.OPERATOR,)),
)


def _layout_context() -> dict:
    items = []
    if getattr(current_user, "is_authenticated", False):
        for path, label, roles in NAV:
            if current_user.role in roles:
                active = (
                    request.path == path
                    if path == "/"
                    else (request.path == path or request.path.startswith(path + "/"))
                )
                items.append({"path": path, "label": _(label), "active": active})
    return {"nav_items": items}
