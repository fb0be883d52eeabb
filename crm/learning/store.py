"""The models table of the current company: the model in force (cached per stored row), saving a candidate,
promoting it, and the blend weight an admin set (docs/scoring.md "Versioning", "Blend").

Every read is the current company's (the ORM's company criteria; row-level security on PostgreSQL), so
company A's model can never score company B's leads: B's scope does not see A's rows at all.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.learning.model import StoredModel, from_json
from crm.models import AppSetting, ScoreModel, ScoreModelStatus
from crm.models.types import utcnow
from crm.services import audit
from crm.tenancy.context import require_company_id

WEIGHT_KEY = "scoring.learned_weight"  # AppSetting key (as crm.services.money keeps its own key)
DEFAULT_WEIGHT = 0.5  # once a model is promoted; without one the rule score is the score (weight 0)

# Parsed models by (company, row id, trained_at): a promoted row never changes, so parsing it once is enough.
_cache_lock = threading.Lock()
_parsed: dict[tuple[int, int, Any], StoredModel] = {}


def to_stored(row: ScoreModel) -> StoredModel:
    key = (row.company_id, row.id, row.trained_at)
    found = _parsed.get(key)
    if found is None:
        found = from_json(row.version, row.feature_names, row.scaling, row.coefficients, row.intercept, row.spec)
        with _cache_lock:
            if len(_parsed) > 256:
                _parsed.clear()
            _parsed[key] = found
    return found


IN_FORCE = sa.select(ScoreModel).where(ScoreModel.status == ScoreModelStatus.PROMOTED).order_by(ScoreModel.id.desc())


def in_force_row() -> ScoreModel | None:
    return db.session.scalars(IN_FORCE).first()


def in_force() -> StoredModel | None:
    row = in_force_row()
    return to_stored(row) if row is not None else None


def next_version() -> int:
    return (db.session.scalar(sa.select(sa.func.max(ScoreModel.version))) or 0) + 1


def save_candidate(model: StoredModel, metrics: dict, train_rows: int, holdout_rows: int, trained_until) -> ScoreModel:
    row = ScoreModel(
        company_id=require_company_id(),
        version=model.version,
        status=ScoreModelStatus.CANDIDATE,
        feature_names=model.feature_names,
        coefficients=model.coef,
        intercept=model.intercept,
        scaling={"mean": model.mean, "scale": model.scale},
        spec=model.spec,
        metrics=metrics,
        train_rows=train_rows,
        holdout_rows=holdout_rows,
        trained_until=trained_until,
        trained_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    return row


def promote(row: ScoreModel, actor: str) -> ScoreModel | None:
    """Put `row` in force and retire the one it replaces (returned); audited. Does not commit."""
    old = in_force_row()
    if old is not None and old.id == row.id:
        return None
    now = utcnow()
    if old is not None:
        old.status, old.retired_at = ScoreModelStatus.RETIRED, now
        db.session.flush()  # one promoted model at a time, also mid-transaction
    row.status, row.promoted_at = ScoreModelStatus.PROMOTED, now
    audit.record(
        actor,
        "score_model.promoted",
        "score_model",
        row.id,
        before={"in_force": old.label if old is not None else None},
        after={"in_force": row.label, "auc": row.metrics.get("auc"), "rule_auc": row.metrics.get("rule_auc")},
    )
    db.session.flush()
    return old


def stored_weight() -> float | None:
    row = db.session.get(AppSetting, (require_company_id(), WEIGHT_KEY))
    return float(row.value) if row is not None and isinstance(row.value, int | float) else None


def weight() -> float:
    """The blend weight w of the learned score; DEFAULT_WEIGHT unless an admin set one."""
    stored = stored_weight()
    return DEFAULT_WEIGHT if stored is None else min(1.0, max(0.0, stored))


def set_weight(value: float | None, actor: str) -> None:
    """Store the admin's weight (0..1), or None for the default; audited, not committed."""
    company_id = require_company_id()
    row = db.session.get(AppSetting, (company_id, WEIGHT_KEY))
    before = {"key": WEIGHT_KEY, "value": row.value if row is not None else None}
    if value is None:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        db.session.add(AppSetting(company_id=company_id, key=WEIGHT_KEY, value=value, updated_by=actor))
    else:
        row.value, row.updated_by, row.updated_at = value, actor, utcnow()
    audit.record(actor, "setting.update", "app_setting", None, before=before, after={"key": WEIGHT_KEY, "value": value})
    db.session.flush()
