"""Settings (admins only): users and roles, scoring rules and the gate threshold, calling hours, campaigns,
provider keys.

Scoring rules and calling hours are shown read-only: the chain worker reads them from the rules YAML
(LEADCHAIN_SCORING_RULES) and the environment (LEADCHAIN_CALLING_HOURS, ...) in its own process, so an
edit here could not reach it safely; the page says where to change them. Provider keys live in Vault
(or the environment): the page says only whether each is set, never its value."""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from crm.extensions import db
from crm.models import Campaign, Role, User
from crm.services import audit
from crm.ui.access import admin_only, user
from crm.ui.i18n import LANGUAGES, _
from crm.ui.security import revoke_sessions

log = logging.getLogger(__name__)
bp = Blueprint("settings", __name__, url_prefix="/settings")

PROVIDERS = ("retell", "vapi", "bland")
# (secret name, what it is for); values are never read into a page, only whether they exist.
PROVIDER_SECRETS = (
    ("providers/retell-api-key", "Retell API key"),
    ("providers/vapi-api-key", "Vapi API key"),
    ("providers/vapi-webhook-secret", "Vapi webhook secret"),
    ("providers/bland-api-key", "Bland API key"),
    ("providers/bland-webhook-secret", "Bland webhook secret"),
    ("providers/sendgrid-api-key", "SendGrid API key"),
    ("providers/sendgrid-webhook-public-key", "SendGrid event webhook key"),
    ("providers/sendgrid-inbound-public-key", "SendGrid inbound parse key"),
)
USER_FIELDS = ("email", "name", "role", "language", "active")


def _actor() -> str:
    return f"user:{user().id}"


def _target(user_id: int) -> User:
    found = db.session.get(User, user_id)
    if found is None:
        abort(404)
    return found


def _active_admins() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User)
                             .where(User.role == Role.ADMIN, User.active.is_(True))) or 0


@bp.get("")
@admin_only
def index():
    """The settings overview."""
    return render_template("ui/settings/index.html")


@bp.get("/users")
@admin_only
def users():
    """Every user with role, language and state; the form for a new one."""
    people = db.session.scalars(sa.select(User).order_by(User.active.desc(), User.name)).all()
    return render_template("ui/settings/users.html", people=people, roles=list(Role), languages=LANGUAGES,
                           problems=[], form={})


@bp.post("/users")
@admin_only
def create_user():
    """Create a user with an initial password (the password policy applies)."""
    from crm.ui.auth import hasher, password_problems
    form = {k: (request.form.get(k) or "").strip() for k in ("email", "name", "role", "language")}
    password = request.form.get("password") or ""
    problems = []
    if "@" not in form["email"] or len(form["email"]) > 254:
        problems.append(_("Please enter a valid email address."))
    elif db.session.scalar(sa.select(User.id).where(sa.func.lower(User.email) == form["email"].lower())):
        problems.append(_("A user with this email exists already."))
    if not form["name"] or len(form["name"]) > 200:
        problems.append(_("Please enter a name."))
    if form["role"] not in {r.value for r in Role}:
        problems.append(_("Please choose a role."))
    if form["language"] not in LANGUAGES:
        form["language"] = "de"
    problems += password_problems(password, email=form["email"])
    if problems:
        people = db.session.scalars(sa.select(User).order_by(User.active.desc(), User.name)).all()
        return render_template("ui/settings/users.html", people=people, roles=list(Role), languages=LANGUAGES,
                               problems=problems, form=form), 422
    new = User(email=form["email"], name=form["name"], role=Role(form["role"]), language=form["language"],
               password_hash=hasher().hash(password))
    db.session.add(new)
    db.session.flush()
    audit.record(_actor(), "user.create", "user", new.id, after=audit.snapshot(new, USER_FIELDS))
    db.session.commit()
    flash(_("User %(name)s created.", name=new.name), "success")
    return redirect(url_for("settings.users"))


@bp.post("/users/<int:user_id>/role")
@admin_only
def change_role(user_id: int):
    """Give a user another role; their sessions end so the new role applies at once."""
    target = _target(user_id)
    try:
        role = Role(request.form.get("role", ""))
    except ValueError:
        abort(422)
    if target.role == Role.ADMIN and role != Role.ADMIN and target.active and _active_admins() <= 1:
        flash(_("The last active admin cannot lose the admin role."), "error")
        return redirect(url_for("settings.users")), 303
    if role != target.role:
        before = audit.snapshot(target, USER_FIELDS)
        target.role = role
        revoke_sessions(target.id, "role")
        audit.record(_actor(), "user.role", "user", target.id, before=before,
                     after=audit.snapshot(target, USER_FIELDS))
        db.session.commit()
        flash(_("Role of %(name)s changed.", name=target.name), "success")
    return redirect(url_for("settings.users"))


@bp.post("/users/<int:user_id>/active")
@admin_only
def set_active(user_id: int):
    """Deactivate (all sessions end at once) or reactivate a user. Nobody deactivates themselves."""
    target = _target(user_id)
    active = request.form.get("active") == "1"
    if not active and target.id == user().id:
        flash(_("You cannot deactivate yourself."), "error")
        return redirect(url_for("settings.users")), 303
    if not active and target.role == Role.ADMIN and target.active and _active_admins() <= 1:
        flash(_("The last active admin cannot be deactivated."), "error")
        return redirect(url_for("settings.users")), 303
    if active != target.active:
        before = audit.snapshot(target, USER_FIELDS)
        target.active = active
        if not active:
            revoke_sessions(target.id, "deactivated")
        audit.record(_actor(), "user.activate" if active else "user.deactivate", "user", target.id,
                     before=before, after=audit.snapshot(target, USER_FIELDS))
        db.session.commit()
        flash(_("%(name)s is active again.", name=target.name) if active
              else _("%(name)s is deactivated and signed out.", name=target.name), "success")
    return redirect(url_for("settings.users"))


@bp.post("/users/<int:user_id>/password")
@admin_only
def set_user_password(user_id: int):
    """Set a new password for a user (e.g. forgotten); their sessions end."""
    from crm.ui.auth import password_problems, set_password
    target = _target(user_id)
    password = request.form.get("password") or ""
    problems = password_problems(password, email=target.email)
    if problems:
        for problem in problems:
            flash(problem, "error")
        return redirect(url_for("settings.users")), 303
    set_password(target, password)
    if target.id != user().id:
        revoke_sessions(target.id, "password")
    audit.record(_actor(), "user.password", "user", target.id)
    db.session.commit()
    flash(_("New password for %(name)s set; their sessions were ended.", name=target.name), "success")
    return redirect(url_for("settings.users"))


@bp.get("/scoring")
@admin_only
def scoring():
    """The scoring rules in force and the gate threshold (read-only)."""
    import os

    from crm.services.scoring import RULES_ENV, ScoringConfigError, load_rules
    try:
        rules, error = load_rules(), None
    except ScoringConfigError as e:
        rules, error = None, str(e)
    return render_template("ui/settings/scoring.html", rules=rules, error=error, env_name=RULES_ENV,
                           custom_file=bool(os.environ.get(RULES_ENV)))


@bp.get("/calling-hours")
@admin_only
def calling_hours():
    """The compliance gate's calling windows and limits (read-only)."""
    from crm.services.compliance import GateConfigError, GatePolicy
    try:
        policy, error = GatePolicy.from_env(), None
    except GateConfigError as e:
        policy, error = None, str(e)
    return render_template("ui/settings/calling_hours.html", policy=policy, error=error)


@bp.get("/campaigns")
@admin_only
def campaigns():
    """Campaigns with their provider and failover."""
    rows = db.session.scalars(sa.select(Campaign).order_by(Campaign.name)).all()
    return render_template("ui/settings/campaigns.html", campaigns=rows, providers=PROVIDERS,
                           languages=LANGUAGES)


CAMPAIGN_FIELDS = ("provider", "agent_id", "from_number", "language", "failover_provider", "failover_agent_id",
                   "failover_from_number", "active", "is_default")


@bp.post("/campaigns/<int:campaign_id>")
@admin_only
def update_campaign(campaign_id: int):
    """Change a campaign's provider, agent, number, language and failover (explicit fields only)."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    f = {k: (request.form.get(k) or "").strip() for k in CAMPAIGN_FIELDS}
    problems = []
    if f["provider"] not in PROVIDERS:
        problems.append(_("Please choose a provider."))
    if not f["agent_id"] or len(f["agent_id"]) > 100 or not f["from_number"] or len(f["from_number"]) > 64:
        problems.append(_("Agent and number are required."))
    failover = f["failover_provider"] or None
    if failover is not None and (failover not in PROVIDERS or failover == f["provider"]):
        problems.append(_("The failover must be another provider."))
    if failover and (not f["failover_agent_id"] or not f["failover_from_number"]):
        problems.append(_("A failover needs its own agent and number."))
    if len(f["failover_agent_id"]) > 100 or len(f["failover_from_number"]) > 64:
        problems.append(_("Agent and number are required."))
    if problems:
        for problem in problems:
            flash(problem, "error")
        return redirect(url_for("settings.campaigns")), 303
    before = audit.snapshot(campaign, CAMPAIGN_FIELDS)
    campaign.provider, campaign.agent_id, campaign.from_number = f["provider"], f["agent_id"], f["from_number"]
    campaign.language = f["language"] if f["language"] in LANGUAGES else campaign.language
    campaign.failover_provider = failover
    campaign.failover_agent_id = f["failover_agent_id"] if failover else None
    campaign.failover_from_number = f["failover_from_number"] if failover else None
    campaign.active = f["active"] == "1"
    if f["is_default"] == "1" and not campaign.is_default:
        db.session.execute(sa.update(Campaign).where(Campaign.id != campaign.id).values(is_default=False))
        campaign.is_default = True
    audit.record(_actor(), "campaign.update", "campaign", campaign.id, before=before,
                 after=audit.snapshot(campaign, CAMPAIGN_FIELDS))
    db.session.commit()
    flash(_("Campaign %(name)s saved.", name=campaign.name), "success")
    return redirect(url_for("settings.campaigns"))


@bp.get("/providers")
@admin_only
def providers():
    """Which provider keys exist in Vault or the environment: "set" or "not set", never a value."""
    from crm.secrets import SecretsError
    secrets = current_app.extensions["leadchain.secrets"]
    rows = []
    for name, label in PROVIDER_SECRETS:
        try:
            state = "set" if secrets.get_list(name) else "not_set"
        except SecretsError:
            state = "unknown"
        rows.append({"name": name, "label": label, "state": state})
    return render_template("ui/settings/providers.html", rows=rows)
