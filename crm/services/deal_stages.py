"""A company's pipeline stages and its list of reasons a deal is lost or won: the default set, seeded the
first time a company needs one, and what an admin edits afterwards (docs/deals.md).

Seeding is safe when two requests do it at once: the rows go in under a savepoint, and the loser of the race
(the unique name per company refuses its rows) reads the winner's. Administration validates everything
before it writes, audits each change, and commits (the caller is a settings page or the API).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Company, Deal, DealStage, DealStatus, LostReason
from crm.models.types import utcnow
from crm.services import audit, deal_rules, settings_store
from crm.services.deal_rules import DealError
from crm.tenancy.context import require_company_id

# (name, probability %) in the company's language; a company edits its own names afterwards.
DEFAULT_STAGES: dict[str, list[tuple[str, int]]] = {
    "de": [("Erstgespräch", 20), ("Angebot", 50), ("Verhandlung", 75)],
    "en": [("First meeting", 20), ("Proposal", 50), ("Negotiation", 75)],
    "fr": [("Premier rendez-vous", 20), ("Proposition", 50), ("Négociation", 75)],
}
DEFAULT_REASONS: dict[str, list[str]] = {
    "de": ["Preis", "Zeitpunkt", "Wettbewerber", "Kein Bedarf", "Keine Rückmeldung"],
    "en": ["Price", "Timing", "Competitor", "No need", "No reply"],
    "fr": ["Prix", "Calendrier", "Concurrent", "Pas de besoin", "Pas de réponse"],
}
DEFAULT_STALE_DAYS = 14


def _language() -> str:
    company = db.session.get(Company, require_company_id())
    language = company.language if company is not None else "de"
    return language if language in DEFAULT_STAGES else "en"


def active_stages() -> list[DealStage]:
    return list(
        db.session.scalars(
            sa.select(DealStage).where(DealStage.active.is_(True)).order_by(DealStage.position, DealStage.id)
        )
    )


def active_reasons() -> list[LostReason]:
    return list(
        db.session.scalars(
            sa.select(LostReason).where(LostReason.active.is_(True)).order_by(LostReason.position, LostReason.id)
        )
    )


def _seed(model: type[DealStage] | type[LostReason], rows: list[Any]) -> bool:
    """Add `rows` when the company has no row of `model` yet (retired ones count: a company that retired every
    default keeps its choice). True when this call added them; a concurrent seeder that won is fine too."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(model)):
        return False
    try:
        with db.session.begin_nested():
            db.session.add_all(rows)
    except sa.exc.IntegrityError:  # another request seeded meanwhile: its rows are the ones
        return False
    return True


def seed_defaults(actor: str = "system") -> bool:
    """Seed the default stages and reasons where the company has none, in the caller's transaction (no commit).
    True when something was added."""
    language = _language()
    stages = [
        DealStage(name=name, probability=chance, position=i)
        for i, (name, chance) in enumerate(DEFAULT_STAGES[language])
    ]
    reasons = [LostReason(label=label, position=i) for i, label in enumerate(DEFAULT_REASONS[language])]
    added_stages, added_reasons = _seed(DealStage, stages), _seed(LostReason, reasons)
    if added_stages or added_reasons:
        after = {"language": language, "stages": added_stages, "reasons": added_reasons}
        audit.record(actor, "deal_stages.seeded", "company", require_company_id(), after=after)
    return added_stages or added_reasons


def ensure_defaults() -> list[DealStage]:
    """The company's active stages by position, seeding the default set (and reasons) the first time (that
    seeding commits, with whatever the session holds: call it before a unit of work's own changes)."""
    if seed_defaults():
        db.session.commit()
    return active_stages()


def _committed(row: Any) -> Any:
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return row


def _name_taken(model: Any, column: Any, text: str, own_id: int | None) -> bool:
    query = sa.select(model.id).where(sa.func.lower(column) == text.lower())
    if own_id is not None:
        query = query.where(model.id != own_id)
    return db.session.scalar(query.limit(1)) is not None


def _text(value: Any, field: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise DealError(field, "must not be empty")
    if len(text) > limit:
        raise DealError(field, f"at most {limit} characters")
    return text


def _next_position(model: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(model.position), -1))) or 0) + 1


def save_stage(*, actor: str, name: str, probability: int, stage_id: int | None = None) -> DealStage:
    """Create a stage (last on the board) or rename / re-weight `stage_id`. Commits."""
    text = _text(name, "name", deal_rules.STAGE_NAME_MAX)
    chance = deal_rules.probability(probability)
    row = deal_rules.stage(stage_id, field="stage_id") if stage_id is not None else None
    if _name_taken(DealStage, DealStage.name, text, row.id if row else None):
        raise DealError("name", "a stage of this name exists")
    before = audit.snapshot(row, ("name", "probability")) if row else None
    if row is None:
        row = DealStage(name=text, probability=chance, position=_next_position(DealStage))
        db.session.add(row)
    else:
        row.name, row.probability = text, chance
    try:
        db.session.flush()
    except sa.exc.IntegrityError:  # the same name saved by another request meanwhile
        db.session.rollback()
        raise DealError("name", "a stage of this name exists") from None
    audit.record(actor, "deal_stage.saved", "deal_stage", row.id, before, {"name": text, "probability": chance})
    return _committed(row)


def retire_stage(stage_id: int, *, actor: str, move_to: int | None = None) -> DealStage:
    """Take a stage off the board. Its open deals move to `move_to` (required when it has any); won and lost
    deals keep it as the stage they were closed from. The last active stage cannot go. Commits."""
    row = deal_rules.stage(stage_id)
    if not row.active:
        return row
    if len(active_stages()) <= 1:
        raise DealError("stage_id", "the last stage of the board cannot be retired")
    open_deals = list(
        db.session.scalars(sa.select(Deal).where(Deal.stage_id == row.id, Deal.status == DealStatus.OPEN))
    )
    target = None
    if open_deals:
        if move_to is None:
            raise DealError("move_to", "the stage has open deals: name the stage they move to")
        target = deal_rules.active_stage(move_to, field="move_to")
        if target.id == row.id:
            raise DealError("move_to", "must be another stage")
    now = utcnow()
    for deal in open_deals:
        assert target is not None
        deal.stage_id, deal.stage_changed_at = target.id, now
        audit.record(actor, "deal.moved", "deal", deal.id, {"stage": row.name}, {"stage": target.name})
    row.active = False
    audit.record(actor, "deal_stage.retired", "deal_stage", row.id, {"active": True}, {"active": False})
    return _committed(row)


def reorder_stages(ids: list[int], *, actor: str) -> list[DealStage]:
    """Put the active stages in the order of `ids` (every active stage's id, each once). Commits."""
    stages = {s.id: s for s in active_stages()}
    if (
        not isinstance(ids, list)
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        or sorted(ids) != sorted(stages)
        or len(set(ids)) != len(ids)
    ):
        raise DealError("ids", "must name every active stage once")
    before = {"order": [s.id for s in sorted(stages.values(), key=lambda s: (s.position, s.id))]}
    for position, stage_id in enumerate(ids):
        stages[stage_id].position = position
    audit.record(actor, "deal_stage.reordered", "company", require_company_id(), before, {"order": list(ids)})
    _committed(None)
    return active_stages()


def save_reason(*, actor: str, label: str, reason_id: int | None = None, active: bool = True) -> LostReason:
    """Create a reason (last in the list), or relabel / retire (active=False) / restore `reason_id`. Commits."""
    text = _text(label, "label", deal_rules.REASON_LABEL_MAX)
    row = None
    if reason_id is not None:
        row = db.session.get(LostReason, reason_id) if isinstance(reason_id, int) else None
        if row is None or row.company_id != require_company_id():
            raise DealError("reason_id", "no such reason")
    if _name_taken(LostReason, LostReason.label, text, row.id if row else None):
        raise DealError("label", "a reason of this label exists")
    before = audit.snapshot(row, ("label", "active")) if row else None
    if row is None:
        row = LostReason(label=text, active=bool(active), position=_next_position(LostReason))
        db.session.add(row)
    else:
        row.label, row.active = text, bool(active)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        db.session.rollback()
        raise DealError("label", "a reason of this label exists") from None
    audit.record(actor, "deal_reason.saved", "deal_reason", row.id, before, {"label": text, "active": bool(active)})
    return _committed(row)


def stale_days() -> int:
    """Days in one stage after which an open deal is stale: the company's setting, else 14."""
    row = settings_store.stored(settings_store.DEAL_STALE_DAYS)
    return int(row.value) if row is not None else DEFAULT_STALE_DAYS


def set_stale_days(days: int, *, actor: str) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise DealError("stale_days", "must be a whole number of days from 1 to 365")
    settings_store.put(settings_store.DEAL_STALE_DAYS, days, actor)
    return _committed(days)
