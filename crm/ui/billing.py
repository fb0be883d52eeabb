"""Billing for a company's admin (issue 20): the month's usage and what it costs under the plan, the
company's own soft and hard limits (raising the hard limit resumes paused calls), the invoices as PDFs;
and the limit banner every page shows (soft: admins; hard: everyone, since calls are paused for all).

A bad field is refused with 422 and the page again, the field named beside it."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.billing import invoicing, limits, metering
from crm.billing.invoice_pdf import render_pdf
from crm.billing.metrics import parse_period, period_of
from crm.billing.pricing import lines_for
from crm.extensions import db
from crm.models import BillingAccount, Invoice, Plan, Role
from crm.models.types import utcnow
from crm.tenancy.context import current_company_id
from crm.ui.access import admin_only
from crm.ui.i18n import _

bp = Blueprint("billing", __name__, url_prefix="/billing")
MAX_LIMIT_CENTS = 100_000_000  # a million euros: anything above is a typo, not a limit


def banner_text(code: str) -> str:
    texts = {
        "hard_limit": _(
            "Outbound calls are paused: this month's usage reached the hard limit. Raise the limit under "
            "Billing to resume them; nothing is lost."
        ),
        "payment_overdue": _("Outbound calls are paused: a payment is overdue. They resume once it is paid."),
        "payment_failed": _("A payment failed. Please update the payment method; calls pause after a grace period."),
        "soft_limit": _("This month's usage reached the soft limit."),
    }
    return texts.get(code, "")


@bp.app_context_processor
def _banner() -> dict:
    if not getattr(current_user, "is_authenticated", False) or current_company_id() is None:
        return {"billing_banner": ""}
    try:
        state = limits.state(meter_first=False)
    except sa.exc.SQLAlchemyError:
        db.session.rollback()  # a banner never breaks a page
        return {"billing_banner": ""}
    if state.level == limits.HARD or (state.level == limits.SOFT and current_user.role == Role.ADMIN):
        return {"billing_banner": banner_text(state.code)}
    return {"billing_banner": ""}


def _month(problems: dict[str, str]) -> str:
    now = utcnow()
    month = (request.args.get("month") or "").strip() or period_of(now.year, now.month)
    try:
        parse_period(month)
    except ValueError:
        problems["month"] = _("Must be YYYY-MM.")
        return period_of(now.year, now.month)
    return month


def _page(problems: dict[str, str], status: int = 200, month: str | None = None):
    problems = dict(problems)
    month = month or _month(problems)
    if month == period_of(utcnow().year, utcnow().month):
        metering.meter(month)  # the running month is shown up to now; a past month as recorded
    acct = invoicing.account()
    plan = db.session.get(Plan, acct.plan_id) if acct is not None and acct.plan_id else None
    used = invoicing.used_quantities(month)
    lines = lines_for(invoicing.plan_prices(plan), used) if plan else []
    invoices = db.session.scalars(sa.select(Invoice).order_by(Invoice.period.desc())).all()
    body = render_template(
        "ui/billing/index.html",
        month=month,
        usage=metering.usage_of(month),
        lines=lines,
        account=acct,
        plan=plan,
        state=limits.state(meter_first=False),
        invoices=invoices,
        problems=problems,
    )
    return body, status


@bp.get("/")
@admin_only
def index():
    problems: dict[str, str] = {}
    month = _month(problems)
    return _page(problems, 422 if problems else 200, month)


def _cents(field: str, problems: dict[str, str]) -> int | None:
    raw = (request.form.get(field) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) > MAX_LIMIT_CENTS:
        problems[field] = _("Must be a whole number of cents, 0 or more.")
        return None
    return int(raw)


@bp.post("/limits")
@admin_only
def set_limits():
    problems: dict[str, str] = {}
    soft, hard = _cents("soft_limit_cents", problems), _cents("hard_limit_cents", problems)
    if problems:
        return _page(problems, 422)
    acct = db.session.scalar(sa.select(BillingAccount))
    if acct is None:
        # Limits before any plan: the account is made with them (the plan comes with Stripe or the operator).
        acct = BillingAccount(company_id=current_company_id())
        db.session.add(acct)
    acct.soft_limit_cents, acct.hard_limit_cents = soft, hard
    db.session.commit()
    flash(_("Limits saved."), "success")
    return redirect(url_for("billing.index"))


@bp.get("/invoices/<int:invoice_id>.pdf")
@admin_only
def invoice_pdf(invoice_id: int):
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        abort(404)
    return Response(
        render_pdf(invoice),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{invoice.number}.pdf"'},
    )
