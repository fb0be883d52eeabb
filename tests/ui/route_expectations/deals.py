"""Deals (crm.ui.deals) and the pipeline settings (crm.ui.deal_settings).

A deal is made for the subject's lead and owned by that lead's owner, so the rep sees and changes the deal of
their own lead and gets 404 for a colleague's (crm.ui.deal_access); managers and admins see every deal. The
pipeline settings are for managers and admins (a rep: 403)."""

import itertools
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Appointment, Deal, DealStage, DealStatus, Lead, LostReason
from crm.services import deals as service
from tests.ui.route_expectations import Route

CHANGED = {"anonymous": 302, "sales_own": 303, "sales_foreign": 404, "manager": 303, "admin": 303}
MANAGERS = {"anonymous": 302, "sales": 403, "manager": 303, "admin": 303}
_HOURS = itertools.count(72, 2)  # each set-up's appointment at a time of its own (owners' bookings must not overlap)


def _deal(s, *, closed: bool = False) -> dict:
    """An open (or lost) deal of the subject's lead, in the board's first stage."""
    stages = service.ensure_defaults()
    lead = db.session.get(Lead, s.lead)
    deal = service.create_deal(lead=lead, actor="test", title="Matrix-Deal", value_cents=100_000)
    if closed:
        reason = service.active_reasons()[0]
        service.close_deal(deal, DealStatus.LOST, actor="test", reason_id=reason.id)
    return {"deal_id": deal.id, "stage_id": stages[1].id, "reason_id": service.active_reasons()[0].id}


def _closed(s) -> dict:
    return _deal(s, closed=True)


def _deal_row(s):
    d = db.session.get(Deal, s.extra["deal_id"])
    return (d.title, d.stage_id, d.status, d.value_cents, d.owner_id, d.reason_id, d.closed_at)


def _deals_of_the_lead(s):
    return db.session.scalar(sa.select(sa.func.count()).select_from(Deal).where(Deal.lead_id == s.lead))


def _appointment(s) -> dict:
    lead = db.session.get(Lead, s.lead)
    start = (datetime.now(UTC) + timedelta(hours=next(_HOURS))).replace(microsecond=0)
    appt = Appointment(lead_id=lead.id, owner_id=lead.owner_id, starts_at=start, ends_at=start + timedelta(hours=1))
    db.session.add(appt)
    db.session.commit()
    return {"appointment_id": appt.id}


def _stages(s) -> dict:
    stages = service.ensure_defaults()
    return {"stage_id": stages[0].id, "other_id": stages[1].id, "reason_id": service.active_reasons()[0].id}


def _pipeline(s):
    stages = db.session.execute(
        sa.select(DealStage.id, DealStage.name, DealStage.probability, DealStage.position, DealStage.active).order_by(
            DealStage.id
        )
    ).all()
    reasons = db.session.execute(sa.select(LostReason.id, LostReason.label, LostReason.active)).all()
    return (sorted(map(tuple, stages)), sorted(map(tuple, reasons)), service.stale_days())


def _deal_args(s) -> dict:
    return {"deal_id": s.extra["deal_id"]}


ROUTES = {
    "deals.board": Route(expect={"anonymous": 302, "sales": 200, "manager": 200, "admin": 200}),
    "deals.show": Route(
        setup=_deal,
        url_args=_deal_args,
        expect={"anonymous": 302, "sales_own": 200, "sales_foreign": 404, "manager": 200, "admin": 200},
    ),
    "deals.update": Route(
        method="POST",
        setup=_deal,
        url_args=_deal_args,
        data=lambda s: {"title": "Neuer Titel", "value": "2.500,00", "currency": "EUR"},
        snapshot=_deal_row,
        expect=CHANGED,
    ),
    "deals.move": Route(
        method="POST",
        setup=_deal,
        url_args=_deal_args,
        data=lambda s: {"stage_id": s.extra["stage_id"]},
        snapshot=_deal_row,
        expect=CHANGED,
    ),
    "deals.close": Route(
        method="POST",
        setup=_deal,
        url_args=_deal_args,
        data=lambda s: {"outcome": "lost", "reason_id": s.extra["reason_id"]},
        snapshot=_deal_row,
        expect=CHANGED,
    ),
    "deals.reopen": Route(method="POST", setup=_closed, url_args=_deal_args, snapshot=_deal_row, expect=CHANGED),
    "deals.create_from_lead": Route(
        method="POST", url_args=lambda s: {"lead_id": s.lead}, snapshot=_deals_of_the_lead, expect=CHANGED
    ),
    "deals.create_from_appointment": Route(
        method="POST",
        setup=_appointment,
        url_args=lambda s: {"lead_id": s.lead, "appointment_id": s.extra["appointment_id"]},
        snapshot=_deals_of_the_lead,
        expect=CHANGED,
    ),
    "deal_settings.index": Route(expect={"anonymous": 302, "sales": 403, "manager": 200, "admin": 200}),
    "deal_settings.set_up_defaults": Route(method="POST", snapshot=_pipeline, expect=MANAGERS),
    "deal_settings.add_stage": Route(
        method="POST",
        setup=_stages,
        data=lambda s: {"name": "Vertrag", "probability": "90"},
        snapshot=_pipeline,
        isolated=True,  # the second "Vertrag" would be a duplicate name
        expect=MANAGERS,
    ),
    "deal_settings.save_stage": Route(
        method="POST",
        setup=_stages,
        url_args=lambda s: {"stage_id": s.extra["stage_id"]},
        data=lambda s: {"name": "Erstkontakt", "probability": "25"},
        snapshot=_pipeline,
        expect=MANAGERS,
    ),
    "deal_settings.move_stage": Route(
        method="POST",
        setup=_stages,
        url_args=lambda s: {"stage_id": s.extra["stage_id"]},
        data=lambda s: {"direction": "down"},
        snapshot=_pipeline,
        expect=MANAGERS,
    ),
    "deal_settings.retire_stage": Route(
        method="POST",
        setup=_stages,
        url_args=lambda s: {"stage_id": s.extra["stage_id"]},
        data=lambda s: {"move_to": s.extra["other_id"]},
        snapshot=_pipeline,
        isolated=True,
        expect=MANAGERS,
    ),
    "deal_settings.add_reason": Route(
        method="POST",
        setup=_stages,
        data=lambda s: {"label": "Budget gestrichen"},
        snapshot=_pipeline,
        isolated=True,
        expect=MANAGERS,
    ),
    "deal_settings.save_reason": Route(
        method="POST",
        setup=_stages,
        url_args=lambda s: {"reason_id": s.extra["reason_id"]},
        data=lambda s: {"label": "Zu teuer", "active": "1"},
        snapshot=_pipeline,
        expect=MANAGERS,
    ),
    "deal_settings.save_stale_days": Route(
        method="POST", setup=_stages, data=lambda s: {"stale_days": "21"}, snapshot=_pipeline, expect=MANAGERS
    ),
}
