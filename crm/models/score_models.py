"""The learned lead score's models and training runs (issue 23; docs/scoring.md).

A ScoreModel is one trained logistic regression of one company, stored as plain JSON (feature names,
scaling, coefficients, intercept and the feature spec that turns a lead into numbers), never as a pickle:
a stored model stays readable by any later code and cannot run code when loaded. At most one model per
company is `promoted` (the one in force); the model it replaced becomes `retired`; a model that lost on the
hold-out stays a `candidate`. A ScoreTrainingRun is every weekly run, also those that trained nothing
("not enough data"), so the settings page and the lead page can say why the rule score still applies.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, enum_column, utcnow
from crm.tenancy.owned import CompanyOwned


class ScoreModelStatus(str, enum.Enum):
    CANDIDATE = "candidate"
    PROMOTED = "promoted"
    RETIRED = "retired"


class ScoreModel(CompanyOwned, Model):
    __tablename__ = "score_models"
    __table_args__ = (
        sa.UniqueConstraint("company_id", "version", name="uq_score_models_company_version"),
        sa.Index("ix_score_models_company_status", "company_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # 1, 2, 3 ... per company: scores made by it record "learned-v<version>".
    version: Mapped[int] = mapped_column()
    status: Mapped[ScoreModelStatus] = mapped_column(
        enum_column(ScoreModelStatus, "score_model_status"), default=ScoreModelStatus.CANDIDATE
    )
    feature_names: Mapped[list] = mapped_column(JSONType)
    coefficients: Mapped[list] = mapped_column(JSONType)
    intercept: Mapped[float] = mapped_column(sa.Float)
    # {"mean": [...], "scale": [...]}, one entry per feature: z = (x - mean) / scale.
    scaling: Mapped[dict] = mapped_column(JSONType)
    # What turns a lead into the feature values: the vocabularies of the categorical facts, fill values.
    spec: Mapped[dict] = mapped_column(JSONType)
    # Hold-out figures: auc, brier, ece, rule_auc, in_force_auc, ... (docs/scoring.md)
    metrics: Mapped[dict] = mapped_column(JSONType)
    train_rows: Mapped[int] = mapped_column()
    holdout_rows: Mapped[int] = mapped_column()
    # The newest outcome the model learned from: the hold-out starts after it.
    trained_until: Mapped[datetime] = mapped_column(UTCDateTime())
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def label(self) -> str:
        return f"learned-v{self.version}"


class ScoreTrainingRun(CompanyOwned, Model):
    __tablename__ = "score_training_runs"
    __table_args__ = (sa.UniqueConstraint("company_id", "run_key", name="uq_score_training_runs_company_run_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The workflow run that trained (its id and run id: no personal data), so a retried activity finds its run.
    run_key: Mapped[str] = mapped_column(sa.String(200))
    # "not_enough_data" | "promoted" | "kept" (trained, did not beat what is in force) | "training"
    outcome: Mapped[str] = mapped_column(sa.String(32), default="training")
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    closed_rows: Mapped[int] = mapped_column(default=0)
    won_rows: Mapped[int] = mapped_column(default=0)
    lost_rows: Mapped[int] = mapped_column(default=0)
    model_id: Mapped[int | None] = mapped_column(sa.ForeignKey("score_models.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
