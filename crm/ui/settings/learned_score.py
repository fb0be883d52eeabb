"""Settings -> learned score: the model in force with its hold-out figures beside the rule score's, why the
rule score applies alone when it does, the recent training runs, and the blend weight (docs/scoring.md).

The lead page's section (templates/ui/leads/_learned_score.html) reads its data through the
`learned_score_section` helper registered here for every template: the lead page's own view stays as it was.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_decimal

from crm.extensions import db
from crm.learning import status as learned_status
from crm.learning import store
from crm.ui import learned_score as words
from crm.ui.access import admin_only
from crm.ui.i18n import _
from crm.ui.settings.blueprint import actor, bp


@bp.app_context_processor
def _learned_score_helpers() -> dict[str, Any]:
    return {"learned_score_section": words.lead_section}


def _page(weight_value: str | None = None, weight_error: str | None = None, status: int = 200):
    st = learned_status.current()
    if weight_value is None:
        weight_value = "" if st.stored_weight is None else f"{st.stored_weight:g}"  # an <input type=number>
    runs = learned_status.recent_runs()
    return render_template(
        "ui/settings/learned_score.html",
        st=st,
        reason=words.reason_text(st),
        runs=runs,
        model_labels=learned_status.model_labels([r.model_id for r in runs if r.model_id is not None]),
        run_outcome=words.run_outcome,
        metric=lambda v: format_decimal(v, "0.000") if isinstance(v, int | float) else "–",
        when=words.when,
        weight_value=weight_value,
        weight_error=weight_error,
        default_weight=format_decimal(store.DEFAULT_WEIGHT, "0.##"),
    ), status


@bp.get("/learned-score")
@admin_only
def learned_score():
    """The learned score: model in force, figures, why not, runs, and the weight form."""
    return _page()


@bp.post("/learned-score/weight")
@admin_only
def save_learned_weight():
    """Store the blend weight (0 to 1); empty goes back to the default."""
    raw = (request.form.get("weight") or "").strip().replace(",", ".")
    try:
        value = None if raw == "" else float(raw)
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(raw)
    except ValueError:
        return _page(weight_value=raw, weight_error=_("Please enter a number from 0 to 1."), status=422)
    store.set_weight(value, actor())
    db.session.commit()
    flash(_("Blend weight saved."), "success")
    return redirect(url_for("settings.learned_score"))
