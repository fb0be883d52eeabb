"""Deals (issue 23): create one from a lead or its booked appointment, move it through the company's stages,
close it as won or lost, reopen it, edit it (docs/deals.md).

Every entrance (the pipeline board, the lead page, the API, the chain after a booking) uses these functions:
* bad input is a DealError naming its field, raised before anything is written;
* each change is written to the audit log as `deal.<what>` on the deal, and the lead page shows the lead's
  deal entries on its timeline (crm.ui.lead_detail reads them with the lead's own);
* each function commits its change (as crm.services.appointments' entrances do) and rolls back on failure.

One deal per appointment: create_deal with an appointment that has a deal answers that deal. The unique key
on deals.appointment_id settles a race (two requests, a retried activity): the loser's insert is refused
under a savepoint and it reads the winner's deal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Appointment, Deal, DealStage, DealStatus, Lead, LostReason
from crm.models.types import utcnow
from crm.services import audit, deal_rules
from crm.services.deal_rules import DealError
from crm.services.deal_stages import (
    active_reasons,
    active_stages,
    ensure_defaults,
    reorder_stages,
    retire_stage,
    save_reason,
    save_stage,
    seed_defaults,
    set_stale_days,
    stale_days,
)
from crm.tenancy.context import require_company_id

__all__ = [
    "DealError",
    "DealStatus",
    "active_reasons",
    "active_stages",
    "close_deal",
    "create_deal",
    "ensure_defaults",
    "get_deal",
    "move_deal",
    "reopen_deal",
    "reorder_stages",
    "retire_stage",
    "save_reason",
    "save_stage",
    "set_stale_days",
    "stale_days",
    "update_deal",
]

# Passed for a field update_deal should leave as it is (None is a value: "no expected close date").
_KEEP: Any = object()


def _begin_write() -> None:
    """SQLite: BEGIN IMMEDIATE, so the read-check-write below is one serial step (crm.sqlite_connections says
    why). PostgreSQL: the row lock of _locked and the unique keys do it."""
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def _change() -> Iterator[None]:
    """One write: committed when the block ends, rolled back on any error (a DealError included)."""
    try:
        _begin_write()
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def _locked(deal: Deal) -> Deal:
    """The deal as it is now, locked until the change commits (another request may have closed it)."""
    if deal is None or deal.company_id != require_company_id():
        raise DealError("deal", "no such deal")
    found = db.session.scalar(
        sa.select(Deal).where(Deal.id == deal.id).with_for_update().execution_options(populate_existing=True)
    )
    if found is None:
        raise DealError("deal", "no such deal")
    return found


def get_deal(deal_id: int) -> Deal | None:
    """The current company's deal `deal_id`, None for an unknown one (or another company's)."""
    if isinstance(deal_id, bool) or not isinstance(deal_id, int) or not 0 < deal_id < 2**31:
        return None
    return db.session.get(Deal, deal_id)


def _stage_name(stage_id: int) -> str | None:
    stage = db.session.get(DealStage, stage_id)
    return stage.name if stage is not None else None


def _lead_title(lead: Lead) -> str:
    name = " ".join(part for part in (lead.first_name, lead.last_name) if part)
    return (lead.company or name or f"Lead {lead.id}")[: deal_rules.TITLE_MAX]


def _existing_for(appointment_id: int) -> Deal | None:
    return db.session.scalar(sa.select(Deal).where(Deal.appointment_id == appointment_id))


def create_deal(
    *,
    lead: Lead,
    actor: str,
    title: str | None = None,
    value_cents: int = 0,
    currency: str = "EUR",
    expected_close_on: date | None = None,
    owner_id: int | None = None,
    appointment: Appointment | None = None,
    stage_id: int | None = None,
) -> Deal:
    """A new open deal for `lead` (or the deal `appointment` already has). Defaults: the title from the lead,
    the owner the lead's (else the appointment's), the lead's branch, the first stage of the board. Commits."""
    row = deal_rules.lead(lead)
    booking = deal_rules.appointment(appointment, row) if appointment is not None else None
    if booking is not None and (found := _existing_for(booking.id)) is not None:
        return found
    text = deal_rules.title(title) if title is not None else _lead_title(row)
    cents, code = deal_rules.value_cents(value_cents), deal_rules.currency(currency)
    closes = deal_rules.close_date(expected_close_on)
    owner = deal_rules.owner(owner_id).id if owner_id is not None else None
    stage = deal_rules.active_stage(stage_id) if stage_id is not None else None
    with _change():
        if stage is None:
            seed_defaults(actor)
            stage = active_stages()[0]
        deal = Deal(
            lead_id=row.id,
            appointment_id=booking.id if booking else None,
            title=text,
            stage_id=stage.id,
            value_cents=cents,
            currency=code,
            expected_close_on=closes,
            owner_id=owner or row.owner_id or (booking.owner_id if booking else None),
            branch_id=row.branch_id,
            stage_changed_at=utcnow(),
        )
        try:
            with db.session.begin_nested():
                db.session.add(deal)
        except sa.exc.IntegrityError:
            if booking is None:
                raise
            # Another request made this appointment's deal meanwhile: that one is the deal.
            found = _existing_for(booking.id)
            if found is None:
                raise
            return found
        after = {"title": text, "stage": stage.name, "value_cents": cents, "currency": code, "owner_id": deal.owner_id}
        if booking is not None:
            after["appointment_id"] = booking.id
        audit.record(actor, "deal.created", "deal", deal.id, None, after)
    return deal


def move_deal(deal: Deal, stage_id: int, *, actor: str) -> Deal:
    """Put an open deal in another active stage (the same stage: nothing changes). A closed deal is refused:
    reopen it first. Commits."""
    target = deal_rules.active_stage(stage_id)
    with _change():
        row = _locked(deal)
        if row.status != DealStatus.OPEN:
            raise DealError("stage_id", "the deal is closed: reopen it before moving it")
        if row.stage_id == target.id:
            return row
        before = {"stage": _stage_name(row.stage_id)}
        row.stage_id, row.stage_changed_at = target.id, utcnow()
        audit.record(actor, "deal.moved", "deal", row.id, before, {"stage": target.name})
    return row


def close_deal(
    deal: Deal, outcome: DealStatus, *, actor: str, reason_id: int | None = None, note: str | None = None
) -> Deal:
    """Close an open deal as won or lost. Lost needs a reason (the company's list), won may have one. The deal
    keeps its stage: the board shows where deals are lost. Commits."""
    try:
        outcome = DealStatus(outcome)
    except ValueError:
        raise DealError("outcome", "must be won or lost") from None
    if outcome == DealStatus.OPEN:
        raise DealError("outcome", "must be won or lost")
    if outcome == DealStatus.LOST and reason_id is None:
        raise DealError("reason_id", "a lost deal needs a reason")
    reason: LostReason | None = deal_rules.reason(reason_id) if reason_id is not None else None
    text = deal_rules.note(note)
    with _change():
        row = _locked(deal)
        if row.status != DealStatus.OPEN:
            raise DealError("outcome", "the deal is already closed")
        row.status, row.closed_at = outcome, utcnow()
        row.reason_id, row.reason_note = (reason.id if reason else None), text
        after = {"lost_reason": reason.label if reason else None, "note": text, "stage": _stage_name(row.stage_id)}
        audit.record(actor, f"deal.{outcome.value}", "deal", row.id, {"lost_reason": None}, after)
    return row


def reopen_deal(deal: Deal, *, actor: str) -> Deal:
    """Open a won or lost deal again, in the stage it was closed from (or the board's first, if that stage was
    retired meanwhile); its reason and note are cleared. An open deal stays as it is. Commits."""
    with _change():
        row = _locked(deal)
        if row.status == DealStatus.OPEN:
            return row
        stage = db.session.get(DealStage, row.stage_id)
        if stage is None or not stage.active:
            seed_defaults(actor)
            stage = active_stages()[0]
        before = {"lost_reason": row.reason.label if row.reason else None, "stage": _stage_name(row.stage_id)}
        row.status, row.closed_at, row.reason_id, row.reason_note = DealStatus.OPEN, None, None, None
        row.stage_id, row.stage_changed_at = stage.id, utcnow()
        audit.record(actor, "deal.reopened", "deal", row.id, before, {"lost_reason": None, "stage": stage.name})
    return row


def update_deal(
    deal: Deal,
    *,
    actor: str,
    title: Any = _KEEP,
    value_cents: Any = _KEEP,
    currency: Any = _KEEP,
    expected_close_on: Any = _KEEP,
    owner_id: Any = _KEEP,
) -> Deal:
    """Change the given fields only (owner_id None: nobody; expected_close_on None: no date). Commits; a call
    that changes nothing writes nothing."""
    wanted: dict[str, Any] = {}
    if title is not _KEEP:
        wanted["title"] = deal_rules.title(title)
    if value_cents is not _KEEP:
        wanted["value_cents"] = deal_rules.value_cents(value_cents)
    if currency is not _KEEP:
        wanted["currency"] = deal_rules.currency(currency)
    if expected_close_on is not _KEEP:
        wanted["expected_close_on"] = deal_rules.close_date(expected_close_on)
    if owner_id is not _KEEP:
        wanted["owner_id"] = deal_rules.owner(owner_id).id if owner_id is not None else None
    with _change():
        row = _locked(deal)
        changed = {k: v for k, v in wanted.items() if getattr(row, k) != v}
        if not changed:
            return row
        before = audit.snapshot(row, list(changed))
        for name, value in changed.items():
            setattr(row, name, value)
        audit.record(actor, "deal.updated", "deal", row.id, before, changed)
    return row
