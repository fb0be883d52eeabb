"""Settings → scoring rules (YAML) and the gate threshold: stored overrides over the rules file and the
chain's default, each validated by the parser its default goes through."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from crm.extensions import db
from crm.services import app_settings
from crm.services.scoring import RULES_ENV, ScoringConfigError, rules_path
from crm.ui.access import admin_only
from crm.ui.i18n import _
from crm.ui.settings.blueprint import actor, bp, reset_override
from workflows.payloads import ChainSettings

# ---------------------------------------------------------------- scoring rules and gate threshold


def _file_rules_text() -> tuple[str | None, str | None]:
    """(the rules file's text, why it cannot be read)."""
    target = rules_path()
    try:
        return target.read_text(encoding="utf-8"), None
    except OSError as e:
        return None, f"{target}: {e.strerror}"


def _chain_threshold() -> int:
    """The chain's own gate threshold: LEADCHAIN_CHAIN_SETTINGS (Settings.chain.overrides, as the chain
    worker reads it), else the production default of ChainSettings."""
    default = ChainSettings().gate_threshold
    value = current_app.config["LEADCHAIN"].chain.overrides.get("gate_threshold", default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


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
        custom_file=bool(current_app.config["LEADCHAIN"].chain.scoring_rules),
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
        rules = app_settings.set_scoring_rules(text, actor())
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
    reset_override(app_settings.SCORING_RULES)
    return redirect(url_for("settings.scoring"))


@bp.post("/scoring/threshold")
@admin_only
def save_gate_threshold():
    """Store the gate threshold (0-100)."""
    value = (request.form.get("threshold") or "").strip()
    try:
        threshold = app_settings.set_gate_threshold(value, actor())
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
    reset_override(app_settings.GATE_THRESHOLD)
    return redirect(url_for("settings.scoring"))
