"""The pipeline board's content: crm.services.deal_metrics.pipeline_summary in the page's words and numbers.

Which deals a board shows: an admin's and a manager's (without chosen branches) the whole company's, with
the owner, branch and source filters; a manager with chosen branches one of those branches at a time (the
first by default); a sales rep the deals they own. The summary's figures (totals, forecast, win rate) are
then exactly those of the deals on the board, never of deals the user may not see.

Money is shown in the reader's language (babel) and never converted: a column with deals in two currencies
shows two amounts (crm.services.deal_metrics says why)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from babel.numbers import format_currency, format_percent
from flask_babel import format_date
from werkzeug.datastructures import MultiDict

from crm.extensions import db
from crm.languages import locale_for
from crm.models import Branch, Deal, DealStage, Lead, Role, User
from crm.services import deal_metrics
from crm.services import money as money_service
from crm.services.deal_metrics import DealCard, Money, PipelineSummary, company_today
from crm.services.deal_stages import active_reasons
from crm.tenancy.context import require_company_id
from crm.ui.access import branch_ids
from crm.ui.deal_forms import whole_number
from crm.ui.i18n import _, current_language, ngettext

SOURCE_MAX = 64  # Lead.source's length


@dataclass(frozen=True)
class Filters:
    owner_id: int | None = None
    branch_id: int | None = None
    source: str | None = None

    def query(self) -> dict[str, str]:
        """The filters as the board's query string (and the hidden fields of its forms)."""
        pairs = {"owner": self.owner_id, "branch": self.branch_id, "source": self.source}
        return {key: str(value) for key, value in pairs.items() if value not in (None, "")}


def filters_from(values: MultiDict, who: User | None = None) -> Filters:
    """The filters of a query string or form; with `who`, narrowed to the deals they may see."""
    source = (values.get("source") or "").strip()
    found = Filters(
        whole_number(values.get("owner")),
        whole_number(values.get("branch")),
        source if 0 < len(source) <= SOURCE_MAX and "\x00" not in source else None,
    )
    if who is None or who.role == Role.ADMIN:
        return found
    if who.role == Role.SALES:
        return Filters(who.id, found.branch_id, found.source)
    if who.role == Role.MANAGER:
        mine = branch_ids(who)
        if mine and found.branch_id not in mine:
            return Filters(found.owner_id, mine[0], found.source)
        return found
    return Filters(-1, None, None)  # an operator outside a company: an empty board


def money(cents: int, currency: str) -> str:
    return format_currency(Decimal(cents).scaleb(-2), currency, locale=locale_for(current_language()))


def amounts(values: tuple[Money, ...]) -> str:
    """Per-currency totals as one text: "1.500,00 € + 200,00 $"; nothing is 0 in the company's currency."""
    if not values:
        return money(0, money_service.company_currency())
    return " + ".join(money(m.cents, m.currency) for m in values)


def age_text(days: int) -> str:
    return ngettext("%(num)d day in this stage", "%(num)d days in this stage", days)


def days_in_stage(deal: Deal) -> str:
    changed = deal.stage_changed_at if deal.stage_changed_at.tzinfo else deal.stage_changed_at.replace(tzinfo=UTC)
    return age_text(max(0, (datetime.now(UTC) - changed).days))


def count_text(n: int) -> str:
    return ngettext("%(num)d deal", "%(num)d deals", n)


def summary(filters: Filters) -> PipelineSummary:
    return deal_metrics.pipeline_summary(
        owner_id=filters.owner_id, branch_id=filters.branch_id, source=filters.source, today=company_today()
    )


def _names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {row.id: row.name for row in db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids)))}


def _lead_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    leads = db.session.scalars(sa.select(Lead).where(Lead.id.in_(ids)))
    return {lead.id: lead.display_name for lead in leads}


def _card(card: DealCard, stage_id: int, owners: dict[int, str], leads: dict[int, str]) -> dict:
    return {
        "id": card.id,
        "stage_id": stage_id,
        "title": card.title,
        "lead_name": leads.get(card.lead_id, ""),
        "value": money(card.value_cents, card.currency),
        "owner_name": owners.get(card.owner_id, _("Unassigned")) if card.owner_id else _("Unassigned"),
        "age": age_text(card.days_in_stage),
        "stale": card.stale,
    }


def _figures(s: PipelineSummary) -> dict[str, str]:
    locale = locale_for(current_language())
    return {
        "month": format_date(s.today, "LLLL y"),
        "forecast": amounts(s.forecast),
        "win_rate": format_percent(s.win_rate, locale=locale) if s.win_rate is not None else "–",
        "cycle": ngettext("%(num)d day", "%(num)d days", round(s.avg_cycle_days))
        if s.avg_cycle_days is not None
        else "–",
    }


def _filter_choices(who: User) -> dict:
    """The owners, branches and sources the filter form offers `who`."""
    company = require_company_id()
    branches = sa.select(Branch.id, Branch.name).where(Branch.company_id == company).order_by(Branch.name)
    if who.role != Role.ADMIN and branch_ids(who):
        branches = branches.where(Branch.id.in_(branch_ids(who)))
    owners: list[tuple[int, str]] = []
    if who.role in (Role.MANAGER, Role.ADMIN):
        query = sa.select(User.id, User.name).where(User.active.is_(True), User.role != Role.OPERATOR)
        owners = [(row.id, row.name) for row in db.session.execute(query.order_by(User.name, User.id))]
    sources = db.session.scalars(
        sa.select(Lead.source).join(Deal, Deal.lead_id == Lead.id).distinct().order_by(Lead.source).limit(100)
    ).all()
    return {
        # A manager with chosen branches sees one of them at a time: no "all branches" to offer.
        "branch_required": who.role == Role.MANAGER and bool(branch_ids(who)),
        "owners": owners,
        "branches": [(b.id, b.name) for b in db.session.execute(branches).all()],
        "sources": list(sources),
    }


def build(who: User, stages: list[DealStage], filters: Filters) -> dict:
    """The board template's context."""
    s = summary(filters)
    cards = [card for stage in s.stages for card in stage.deals]
    owners = _names({c.owner_id for c in cards if c.owner_id})
    leads = _lead_names({c.lead_id for c in cards})
    columns = [
        {
            "stage_id": stage.stage_id,
            "name": stage.name,
            "probability": stage.probability,
            "count_text": count_text(stage.count),
            "total": amounts(stage.total),
            "weighted": amounts(stage.weighted),
            "cards": [_card(c, stage.stage_id, owners, leads) for c in stage.deals],
        }
        for stage in s.stages
    ]
    return {
        "columns": columns,
        "stage_choices": [(stage.id, stage.name) for stage in stages],
        "reasons": [(r.id, r.label) for r in active_reasons()],
        "figures": _figures(s),
        "filters": filters,
        "filter_fields": filters.query(),
        **_filter_choices(who),
    }


def totals(filters: Filters, moved: Deal) -> dict:
    """After a move: every column's count and totals, the forecast, and the moved card's age (the board's
    script puts them in place)."""
    s = summary(filters)
    age = next((age_text(c.days_in_stage) for stage in s.stages for c in stage.deals if c.id == moved.id), "")
    return {
        "stage_id": moved.stage_id,
        "age": age,
        "forecast": amounts(s.forecast),
        "columns": [
            {
                "stage_id": str(stage.stage_id),
                "count": stage.count,
                "count_text": count_text(stage.count),
                "total": amounts(stage.total),
                "weighted": amounts(stage.weighted),
            }
            for stage in s.stages
        ],
    }
