"""Settings → calling hours per region: a stored override over LEADCHAIN_CALLING_HOURS, validated as the
gate parses it."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from crm.extensions import db
from crm.services import app_settings
from crm.services.app_settings import window_json
from crm.services.compliance import DAY_NAMES, GateConfigError
from crm.ui.access import admin_only
from crm.ui.i18n import _
from crm.ui.settings.blueprint import actor, bp, reset_override

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
        policy, error = app_settings.gate_policy(current_app.extensions.get("leadchain.gate_policy")), None
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
            app_settings.set_calling_hours(mapping, actor())
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
    reset_override(app_settings.CALLING_HOURS)
    return redirect(url_for("settings.calling_hours"))
