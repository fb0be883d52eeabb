"""Settings (admins only): users and roles, scoring rules and the gate threshold, calling hours, campaigns,
provider keys.

Scoring rules (YAML), the gate threshold and calling hours are editable: they are stored in the CRM
database (crm.services.app_settings) over the defaults from the rules file (LEADCHAIN_SCORING_RULES),
the chain's ChainSettings and the environment (LEADCHAIN_CALLING_HOURS). The chain's activities read the
database when they run, so an edit reaches every chain at its next score or gate check. Each form
validates through the parser its default goes through; a bad value is refused with 422 naming the entry
and nothing is stored. "Reset to default" deletes the override. Every change is audited. The other
gate limits (attempts per day, holidays, express consent) stay environment settings, shown read-only.
Provider keys live in Vault (or the environment): the page says only whether each is set, never its value."""

from __future__ import annotations

import json
import logging
import os

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime

from crm.extensions import db
from crm.models import Campaign, Role, User
from crm.secrets import SecretsError
from crm.services import app_settings, audit
from crm.services.app_settings import window_json
from crm.services.compliance import DAY_NAMES, GateConfigError
from crm.services.scoring import RULES_ENV, ScoringConfigError, rules_path
from crm.ui.access import admin_only, user
from crm.ui.auth import hasher, password_problems, set_password
from crm.ui.i18n import LANGUAGES, _
from crm.ui.security import revoke_sessions
from workflows.payloads import ChainSettings

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


@bp.context_processor
def _helpers() -> dict:
    return {"when": lambda value: format_datetime(value, "short") if value else ""}


def _actor() -> str:
    return f"user:{user().id}"


def _target(user_id: int) -> User:
    found = db.session.get(User, user_id)
    if found is None:
        abort(404)
    return found


def _active_admins() -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(User).where(User.role == Role.ADMIN, User.active.is_(True))
        )
        or 0
    )


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
    return render_template(
        "ui/settings/users.html", people=people, roles=list(Role), languages=LANGUAGES, problems=[], form={}
    )


@bp.post("/users")
@admin_only
def create_user():
    """Create a user with an initial password (the password policy applies)."""
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
        return render_template(
            "ui/settings/users.html", people=people, roles=list(Role), languages=LANGUAGES, problems=problems, form=form
        ), 422
    new = User(
        email=form["email"],
        name=form["name"],
        role=Role(form["role"]),
        language=form["language"],
        password_hash=hasher().hash(password),
    )
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
        audit.record(_actor(), "user.role", "user", target.id, before=before, after=audit.snapshot(target, USER_FIELDS))
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
        audit.record(
            _actor(),
            "user.activate" if active else "user.deactivate",
            "user",
            target.id,
            before=before,
            after=audit.snapshot(target, USER_FIELDS),
        )
        db.session.commit()
        flash(
            _("%(name)s is active again.", name=target.name)
            if active
            else _("%(name)s is deactivated and signed out.", name=target.name),
            "success",
        )
    return redirect(url_for("settings.users"))


@bp.post("/users/<int:user_id>/password")
@admin_only
def set_user_password(user_id: int):
    """Set a new password for a user (e.g. forgotten); their sessions end."""
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


# ---------------------------------------------------------------- scoring rules and gate threshold


def _file_rules_text() -> tuple[str | None, str | None]:
    """(the rules file's text, why it cannot be read)."""
    target = rules_path()
    try:
        return target.read_text(encoding="utf-8"), None
    except OSError as e:
        return None, f"{target}: {e.strerror}"


def _chain_threshold() -> int:
    """The chain's own gate threshold: LEADCHAIN_CHAIN_SETTINGS (as the chain worker reads it), else the
    production default of ChainSettings."""
    default = ChainSettings().gate_threshold
    raw = current_app.config.get("LEADCHAIN_CHAIN_SETTINGS") or os.environ.get("LEADCHAIN_CHAIN_SETTINGS")
    try:
        value = (raw if isinstance(raw, dict) else json.loads(raw)).get("gate_threshold", default) if raw else default
        return value if isinstance(value, int) and not isinstance(value, bool) else default
    except (ValueError, TypeError, AttributeError):
        return default


def _scoring_page(
    *,
    rules_text: str | None = None,
    rules_error: str | None = None,
    threshold_value: str | None = None,
    threshold_error: str | None = None,
    status: int = 200,
):
    default_threshold = _chain_threshold()
    stored_rules = app_settings.stored(app_settings.SCORING_RULES)
    stored_threshold = app_settings.stored(app_settings.GATE_THRESHOLD)
    try:
        rules, error = app_settings.scoring_rules(), None
    except ScoringConfigError as e:
        rules, error = None, str(e)
    if rules_text is None:
        rules_text, file_error = (stored_rules.value, None) if stored_rules is not None else _file_rules_text()
        error = error or file_error
    if threshold_value is None:
        threshold_value = str(stored_threshold.value if stored_threshold is not None else default_threshold)
    return render_template(
        "ui/settings/scoring.html",
        rules=rules,
        error=error,
        env_name=RULES_ENV,
        custom_file=bool(os.environ.get(RULES_ENV)),
        stored_rules=stored_rules,
        stored_threshold=stored_threshold,
        rules_text=rules_text,
        rules_error=rules_error,
        threshold_value=threshold_value,
        threshold_error=threshold_error,
        default_threshold=default_threshold,
    ), status


@bp.get("/scoring")
@admin_only
def scoring():
    """The scoring rules and the gate threshold in force, with the forms to change them."""
    return _scoring_page()


@bp.post("/scoring/rules")
@admin_only
def save_scoring_rules():
    """Store a ruleset (YAML): validated like a rules file; a bad one is refused (422) naming the entry."""
    text = (request.form.get("rules") or "").replace("\r\n", "\n")
    try:
        rules = app_settings.set_scoring_rules(text, _actor())
    except app_settings.SettingError as e:
        db.session.rollback()
        return _scoring_page(rules_text=text, rules_error=e.detail, status=422)
    db.session.commit()
    flash(
        _("Scoring rules %(version)s saved; the chain uses them from its next score.", version=rules.version), "success"
    )
    return redirect(url_for("settings.scoring"))


@bp.post("/scoring/rules/reset")
@admin_only
def reset_scoring_rules():
    """Back to the rules file."""
    _reset(app_settings.SCORING_RULES)
    return redirect(url_for("settings.scoring"))


@bp.post("/scoring/threshold")
@admin_only
def save_gate_threshold():
    """Store the gate threshold (0-100)."""
    value = (request.form.get("threshold") or "").strip()
    try:
        threshold = app_settings.set_gate_threshold(value, _actor())
    except app_settings.SettingError:
        db.session.rollback()
        return _scoring_page(
            threshold_value=value, threshold_error=_("Please enter a whole number from 0 to 100."), status=422
        )
    db.session.commit()
    flash(_("Gate threshold %(value)d saved.", value=threshold), "success")
    return redirect(url_for("settings.scoring"))


@bp.post("/scoring/threshold/reset")
@admin_only
def reset_gate_threshold():
    """Back to the chain's own threshold."""
    _reset(app_settings.GATE_THRESHOLD)
    return redirect(url_for("settings.scoring"))


def _reset(key: str) -> None:
    if app_settings.reset(key, _actor()):
        db.session.commit()
        flash(_("Reset to the default."), "success")
    else:
        flash(_("This already is the default."), "info")


# ---------------------------------------------------------------- calling hours


def _days_text(days) -> str:
    """(0, 1, 2, 3, 4, 6) → "mon-fri,sun": what the calling-hours parser reads back."""
    runs: list[list[int]] = []
    for d in sorted(set(days)):
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ",".join(DAY_NAMES[r[0]] if len(r) == 1 else f"{DAY_NAMES[r[0]]}-{DAY_NAMES[r[-1]]}" for r in runs)


def _policy_rows(policy) -> list[dict]:
    rows = []
    for region, window in sorted(policy.windows.items()):
        rows.append(
            {
                "region": region,
                "days": _days_text(window.days),
                **{k: v for k, v in window_json(window).items() if k != "days"},
            }
        )
    fallback = policy.default_window or policy.window_for("DE")
    rows.append(
        {
            "region": "default",
            "days": _days_text(fallback.days),
            **{k: v for k, v in window_json(fallback).items() if k != "days"},
        }
    )
    return rows


BLANK_ROWS = 2


def _calling_hours_page(*, rows: list[dict] | None = None, problem: str | None = None, status: int = 200):
    try:
        policy, error = app_settings.gate_policy(current_app.config.get("LEADCHAIN_GATE_POLICY")), None
    except GateConfigError as e:
        policy, error = None, str(e)
    if rows is None:
        rows = _policy_rows(policy) if policy is not None else []
        rows += [{"region": "", "days": "", "start": "", "end": ""}] * BLANK_ROWS
    return render_template(
        "ui/settings/calling_hours.html",
        policy=policy,
        error=error,
        rows=rows,
        problem=problem,
        stored=app_settings.stored(app_settings.CALLING_HOURS),
    ), status


@bp.get("/calling-hours")
@admin_only
def calling_hours():
    """The compliance gate's calling windows by region, editable; the limits from the environment."""
    return _calling_hours_page()


@bp.post("/calling-hours")
@admin_only
def save_calling_hours():
    """Store the calling windows (region, days, start, end per row), read by the same parser as
    LEADCHAIN_CALLING_HOURS; a bad row is refused (422) naming the region."""
    form = request.form
    fields = ("region", "days", "start", "end")
    columns = [form.getlist(k) for k in fields]
    # A row is one cell of each column; a tampered form with uneven columns loses its unpaired cells
    # (strict=False), as the browser's form never sends them.
    rows = [dict(zip(fields, (v.strip() for v in values), strict=True)) for values in zip(*columns, strict=False)]
    mapping: dict[str, dict] = {}
    problem = None
    for row in rows:
        if not any(row.values()):
            continue
        region = row["region"] if row["region"] == "default" else row["region"].upper()
        if not region:
            problem = _("Every row with times needs a region (e.g. DE, AT, US).")
            break
        if region in mapping:
            problem = _("Region %(region)s is listed twice.", region=region)
            break
        spec = {"start": row["start"], "end": row["end"]}
        if row["days"]:
            spec["days"] = row["days"]
        mapping[region] = spec
    if problem is None:
        try:
            app_settings.set_calling_hours(mapping, _actor())
        except app_settings.SettingError as e:
            problem = e.detail
    if problem is not None:
        db.session.rollback()
        return _calling_hours_page(rows=rows, problem=problem, status=422)
    db.session.commit()
    flash(_("Calling hours saved; the gate applies them from its next check."), "success")
    return redirect(url_for("settings.calling_hours"))


@bp.post("/calling-hours/reset")
@admin_only
def reset_calling_hours():
    """Back to LEADCHAIN_CALLING_HOURS (or the built-in windows)."""
    _reset(app_settings.CALLING_HOURS)
    return redirect(url_for("settings.calling_hours"))


@bp.get("/campaigns")
@admin_only
def campaigns():
    """Campaigns with their provider and failover."""
    rows = db.session.scalars(sa.select(Campaign).order_by(Campaign.name)).all()
    return render_template("ui/settings/campaigns.html", campaigns=rows, providers=PROVIDERS, languages=LANGUAGES)


CAMPAIGN_FIELDS = (
    "provider",
    "agent_id",
    "from_number",
    "language",
    "failover_provider",
    "failover_agent_id",
    "failover_from_number",
    "active",
    "is_default",
)


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
    audit.record(
        _actor(),
        "campaign.update",
        "campaign",
        campaign.id,
        before=before,
        after=audit.snapshot(campaign, CAMPAIGN_FIELDS),
    )
    db.session.commit()
    flash(_("Campaign %(name)s saved.", name=campaign.name), "success")
    return redirect(url_for("settings.campaigns"))


@bp.get("/providers")
@admin_only
def providers():
    """Which provider keys exist in Vault or the environment: "set" or "not set", never a value."""
    secrets = current_app.extensions["leadchain.secrets"]
    rows = []
    for name, label in PROVIDER_SECRETS:
        try:
            state = "set" if secrets.get_list(name) else "not_set"
        except SecretsError:
            state = "unknown"
        rows.append({"name": name, "label": label, "state": state})
    return render_template("ui/settings/providers.html", rows=rows)
