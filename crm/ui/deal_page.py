"""A deal's page (crm.ui.deals.show): what it shows, and reading its edit form into crm.services.deals.update_deal's
arguments. A field the form does not send is left as it is; the owner is read only for managers and admins."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import format_date, format_datetime
from werkzeug.datastructures import MultiDict

from crm.extensions import db
from crm.models import Deal, DealStatus, Lead, Role, User
from crm.services import deals as service
from crm.ui.access import can_see
from crm.ui.deal_access import may_reassign
from crm.ui.deal_board import days_in_stage, money
from crm.ui.deal_forms import amount_cents, iso_date, plain_amount, whole_number
from crm.ui.i18n import _

# The currencies offered first; a deal in another one (set through the API) keeps it in the list.
CURRENCIES = ("EUR", "CHF", "USD", "GBP")


def owner_choices() -> list[tuple[int, str]]:
    """The company's active users who can own a deal (the operator belongs to no company)."""
    rows = db.session.execute(
        sa.select(User.id, User.name)
        .where(User.active.is_(True), User.role.in_((Role.SALES, Role.MANAGER, Role.ADMIN)))
        .order_by(User.name, User.id)
    ).all()
    return [(row.id, row.name) for row in rows]


def _values(deal: Deal) -> dict[str, str]:
    return {
        "title": deal.title,
        "value": plain_amount(deal.value_cents),
        "currency": deal.currency,
        "expected_close_on": deal.expected_close_on.isoformat() if deal.expected_close_on else "",
        "owner_id": str(deal.owner_id or ""),
    }


def context(deal: Deal, who: User, *, form: MultiDict | None = None, errors: dict[str, str] | None = None) -> dict:
    lead = db.session.get(Lead, deal.lead_id)
    owner = db.session.get(User, deal.owner_id) if deal.owner_id else None
    values = _values(deal)
    if form is not None:
        values.update({k: form.get(k, v) for k, v in values.items()})
    is_open = deal.status == DealStatus.OPEN
    return {
        "deal": deal,
        "lead": lead,
        "lead_visible": lead is not None and can_see(who, lead),
        "owner_name": owner.name if owner else _("Unassigned"),
        "value": money(deal.value_cents, deal.currency),
        "expected_close": format_date(deal.expected_close_on, "medium") if deal.expected_close_on else "",
        "closed_at": format_datetime(deal.closed_at, "short") if deal.closed_at else "",
        "age": days_in_stage(deal) if is_open else None,
        "is_open": is_open,
        "stage_choices": [(s.id, s.name) for s in service.active_stages()] if is_open else [],
        "reasons": [(r.id, r.label) for r in service.active_reasons()],
        "owners": owner_choices() if may_reassign(who) else [],
        "currencies": CURRENCIES if deal.currency in CURRENCIES else (*CURRENCIES, deal.currency),
        "values": values,
        "errors": errors or {},
        # The close form's hidden fields: come back to this page rather than to the board.
        "filter_fields": {"from": "deal"},
    }


def read_form(form: MultiDict, reassign: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """(update_deal's keyword arguments, {field: message}) from the edit form."""
    changes: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if "title" in form:
        changes["title"] = form.get("title", "")
    if "value" in form:
        cents = amount_cents(form.get("value"))
        if cents is None:
            errors["value_cents"] = _("Enter the value as an amount such as 1500 or 1500.50 (not negative).")
        else:
            changes["value_cents"] = cents
    if "currency" in form:
        changes["currency"] = form.get("currency", "")
    if "expected_close_on" in form:
        ok, when = iso_date(form.get("expected_close_on"))
        if ok:
            changes["expected_close_on"] = when
        else:
            errors["expected_close_on"] = _("Enter the expected close as a date between 2000 and 2999.")
    if reassign and "owner_id" in form:
        raw = (form.get("owner_id") or "").strip()
        owner_id = whole_number(raw)
        if raw and owner_id is None:
            errors["owner_id"] = _("Choose an active user of the company as the owner.")
        else:
            changes["owner_id"] = owner_id
    return changes, errors
