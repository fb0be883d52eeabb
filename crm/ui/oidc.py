"""Sign-in through a company's OpenID Connect provider (authlib's Flask client; docs/security.md).

A company names its provider's issuer and the client id it registered there (Settings → Sign-in); the client
secret is in the secrets store (``client_secret_name``), never the database. /login/sso/<company slug> sends
the browser to the provider (authorization code flow with state and nonce); the callback takes the code to
the token endpoint and checks the ID token (signature from the provider's JWKS, issuer, audience, expiry,
nonce). The user is the company's user with that verified email; an unknown email creates a sales user only
when the company allows it, and never one whose email another company's user has. Two-factor still applies
to an enrolled user (the code step follows)."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from crm.extensions import db
from crm.models import Role, User
from crm.models.companies import SLUG_PATTERN, Company
from crm.tenancy.routing import platform_lookup
from crm.tenancy.web import bind_request_company
from crm.ui import two_factor
from crm.ui.auth import safe_next
from crm.ui.i18n import _
from crm.ui.security import limiter, sign_in

log = logging.getLogger(__name__)
bp = Blueprint("oidc", __name__)
NEXT = "oidc_next"


def client_secret_name(company_id: int) -> str:
    return f"companies/{company_id}/oidc/client-secret"


@dataclass(frozen=True)
class Provider:
    company_id: int
    issuer: str
    client_id: str
    create_users: bool


def _provider(slug: str) -> Provider | None:
    """The OIDC configuration of the active company `slug`, if it has one."""
    if not re.fullmatch(SLUG_PATTERN, slug):
        return None
    with platform_lookup("oidc sign-in"):
        row = db.session.execute(
            sa.select(Company.id, Company.oidc_issuer, Company.oidc_client_id, Company.oidc_create_users).where(
                Company.slug == slug, Company.active.is_(True)
            )
        ).first()
    if row is None or not row.oidc_issuer or not row.oidc_client_id:
        return None
    return Provider(row.id, row.oidc_issuer.rstrip("/"), row.oidc_client_id, bool(row.oidc_create_users))


def _client(provider: Provider, secret: str) -> Any:
    """authlib's client for the provider, kept per app while its configuration stays the same (so the
    discovery document and the JWKS are fetched once, not on every sign-in)."""
    oauth = current_app.extensions.get("leadchain.oidc")
    if oauth is None:
        oauth = current_app.extensions["leadchain.oidc"] = OAuth(current_app)
    fingerprint = hashlib.sha256(f"{provider.issuer}|{provider.client_id}|{secret}".encode()).hexdigest()[:16]
    name = f"company{provider.company_id}-{fingerprint}"
    client = oauth.create_client(name)
    if client is None:
        client = oauth.register(
            name,
            client_id=provider.client_id,
            client_secret=secret,
            server_metadata_url=f"{provider.issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": "openid email profile", "timeout": 5},
        )
    return client


def _configured(slug: str) -> tuple[Provider, Any]:
    provider = _provider(slug)
    secret = (
        current_app.extensions["leadchain.secrets"].get(client_secret_name(provider.company_id)) if provider else None
    )
    if provider is None or not secret:
        abort(404)
    return provider, _client(provider, secret)


@bp.get("/login/sso")
def choose():
    """The sign-in page's "company account" form names the company's slug. Answered with a page that moves on
    (a link and a meta refresh), not a redirect: the pages' CSP allows forms to send only to this site
    (form-action 'self'), and a browser applies that to every redirect that follows a form, so a redirect
    chain ending at the provider would be blocked. A direct link to /login/sso/<slug> needs no such step."""
    slug = (request.args.get("company") or "").strip().lower()
    if not slug:
        return redirect(url_for("auth.login"))
    target = url_for("oidc.start", slug=slug, next=safe_next(request.args.get("next")))
    return render_template("ui/sso_continue.html", target=target)


@bp.get("/login/sso/<slug>")
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_IP"], scope="login-sso-ip")
def start(slug: str):
    """Send the browser to the company's provider."""
    provider, client = _configured(slug)
    next_url = safe_next(request.args.get("next"))
    try:
        response = client.authorize_redirect(url_for("oidc.callback", slug=slug, _external=True))
    except Exception as e:  # noqa: BLE001 (the provider's discovery: network, JSON, HTTP errors alike)
        log.warning("oidc discovery failed company=%s: %s", provider.company_id, type(e).__name__)
        return _refused(_("The sign-in provider cannot be reached. Please try again later."), 502)
    session[NEXT] = next_url
    return response


@bp.get("/login/sso/<slug>/callback")
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_IP"], scope="login-sso-ip")
def callback(slug: str) -> ResponseReturnValue:
    """The provider's answer: check the ID token, find (or create) the user, sign in."""
    provider, client = _configured(slug)
    if request.args.get("error"):
        return _refused(_("The sign-in provider refused the sign-in."), 401)
    try:
        token = client.authorize_access_token()
    except Exception as e:  # noqa: BLE001 (a bad state, code, signature or claim, or the provider unreachable)
        log.warning("oidc sign-in refused company=%s: %s", provider.company_id, type(e).__name__)
        return _refused(_("Sign-in through your company's provider failed."), 401)
    claims = token.get("userinfo") or {}
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is not True:
        return _refused(_("Your provider did not confirm an email address."), 403)
    user = _user_for(provider, email.strip()[:254], str(claims.get("name") or "")[:200])
    if user is None:
        log.warning("oidc sign-in: no user company=%s", provider.company_id)  # no email in the log
        return _refused(_("There is no active account with this email in this company."), 403)
    next_url = safe_next(session.pop(NEXT, None))
    if two_factor.enrolled(user):
        return two_factor.start_code_step(user.id, next_url)
    sign_in(user)
    log.info("login ok user=%s oidc", user.id)
    return redirect(next_url)


def _user_for(provider: Provider, email: str, name: str) -> User | None:
    """The company's active user with this email, or a new sales user where the company allows it. An email
    of another company's user (emails are unique across companies) finds nobody."""
    with platform_lookup("oidc user"):
        row = db.session.execute(
            sa.select(User.id, User.company_id, User.active).where(sa.func.lower(User.email) == email.lower())
        ).first()
    if row is not None and (row.company_id != provider.company_id or not row.active):
        return None
    bind_request_company(provider.company_id)
    if row is not None:
        return db.session.get(User, row.id)
    if not provider.create_users:
        return None
    user = User(email=email, name=name or email.split("@")[0], role=Role.SALES, password_hash=None)
    db.session.add(user)
    db.session.commit()
    log.info("oidc created user=%s company=%s", user.id, provider.company_id)
    return user


def _refused(message: str, status: int) -> ResponseReturnValue:
    flash(message, "error")
    return render_template("ui/login.html", email="", next_url="/"), status
