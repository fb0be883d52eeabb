"""The platform pages: the operator's list of companies, creating and deactivating one, and entering one.

An operator belongs to no company and sees no customer data here: the list reads the companies table only
(a platform table), in an operator context. Entering a company is the one way to see its data; it needs a
reason, is written to that company's audit log (who, why) and lasts until the operator leaves or signs out
(crm.ui.security._operator binds every later request of the session to it).

Every text is in the ``ui`` catalogue (German, English, French) like the rest of the UI: operators are
people of the installation's own team, who read it in their own language (User.language). A bad field is
refused with 422 and the page again, each bad field named beside it (never a bare error page)."""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask_login import login_required

from crm.extensions import db
from crm.models import AuditEntry, Company
from crm.models.companies import SLUG_PATTERN
from crm.tenancy.context import company_scope, operator_scope
from crm.ui.access import user
from crm.ui.i18n import _
from crm.ui.security import ENTERED_COMPANY

log = logging.getLogger(__name__)
bp = Blueprint("platform", __name__, url_prefix="/platform")

MAX_REASON = 500


def _operator_id() -> int:
    """The signed-in operator's id (inside a company they entered too), else 403."""
    operator_id = getattr(g, "operator_id", None)
    if operator_id is None or operator_id != user().id:
        log.warning("forbidden user=%s endpoint=%s", user().id, request.endpoint)
        abort(403)
    return int(operator_id)


class Refused(Exception):
    """Bad fields of a form: {field: what is wrong}, shown beside each field on the page (422)."""

    def __init__(self, problems: dict[str, str], company_id: int | None = None) -> None:
        super().__init__(", ".join(sorted(problems)))  # the field names only: no value of the form
        self.problems = problems
        self.company_id = company_id


@bp.errorhandler(Refused)
def _refused(e: Refused):
    return _page(e.problems, e.company_id, 422)


def _reason(company_id: int) -> str:
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        raise Refused({"reason": _("Reason: required, it is written to the company's audit log.")}, company_id)
    return reason[:MAX_REASON]


def _audit(company_id: int, operator_id: int, action: str, reason: str) -> None:
    """The company's own audit log names the operator and the reason."""
    with company_scope(company_id):
        db.session.add(
            AuditEntry(
                actor=f"operator:{operator_id}",
                action=action,
                entity_type="company",
                entity_id=company_id,
                after={"reason": reason},
            )
        )
        db.session.commit()


def _page(problems: dict[str, str] | None = None, company_id: int | None = None, status: int = 200):
    """The list; with problems, the form they belong to (the new company's, or a company's reason) shows
    them and the values typed."""
    operator_id = _operator_id()
    with operator_scope(f"user:{operator_id}", "platform: list companies"):
        rows = db.session.execute(
            sa.select(Company.id, Company.slug, Company.name, Company.active).order_by(Company.id)
        ).all()
        db.session.rollback()
    body = render_template(
        "ui/platform/companies.html",
        companies=rows,
        entered=session.get(ENTERED_COMPANY),
        problems=problems or {},
        problem_company=company_id,
        form=request.form if problems else {},
    )
    return body, status


@bp.get("/companies")
@login_required
def companies():
    return _page()


@bp.post("/companies")
@login_required
def create():
    operator_id = _operator_id()
    slug = (request.form.get("slug") or "").strip()
    name = (request.form.get("name") or "").strip()[:200]
    problems = {}
    if not re.fullmatch(SLUG_PATTERN, slug):
        problems["slug"] = _("Slug: 2 to 40 lower-case letters, digits or hyphens.")
    if not name:
        problems["name"] = _("Name: required.")
    if problems:
        raise Refused(problems)
    with operator_scope(f"user:{operator_id}", "platform: create company"):
        taken = db.session.scalar(sa.select(Company.id).where(Company.slug == slug)) is not None
        if taken:
            db.session.rollback()
            raise Refused({"slug": _("Slug: %(slug)s is already taken.", slug=slug)})
        company = Company(slug=slug, name=name)
        db.session.add(company)
        db.session.commit()
        company_id = company.id
    _audit(company_id, operator_id, "company.created", f"created as {slug}")
    flash(_("Company %(slug)s created.", slug=slug), "info")
    return redirect(url_for("platform.companies"), 303)


def _company_or_404(company_id: int) -> Company:
    company = db.session.get(Company, company_id)
    if company is None:
        abort(404)
    return company


@bp.post("/companies/<int:company_id>/deactivate")
@login_required
def deactivate(company_id: int):
    """Its users can no longer sign in, its sessions, keys, sources and provider routes stop working."""
    operator_id = _operator_id()
    reason = _reason(company_id)
    with operator_scope(f"user:{operator_id}", "platform: deactivate company"):
        company = _company_or_404(company_id)
        company.active = False
        slug = company.slug
        db.session.commit()
    _audit(company_id, operator_id, "company.deactivated", reason)
    flash(_("Company %(slug)s deactivated.", slug=slug), "info")
    return redirect(url_for("platform.companies"), 303)


@bp.post("/companies/<int:company_id>/enter")
@login_required
def enter(company_id: int):
    operator_id = _operator_id()
    reason = _reason(company_id)
    with operator_scope(f"user:{operator_id}", "platform: enter company"):
        company = _company_or_404(company_id)
        active = company.active
        db.session.rollback()
    if not active:
        abort(404)
    _audit(company_id, operator_id, "operator.entered", reason)
    session[ENTERED_COMPANY] = company_id
    log.info("operator entered company operator=%s company=%s", operator_id, company_id)
    return redirect("/", 303)


@bp.post("/leave")
@login_required
def leave():
    _operator_id()
    session.pop(ENTERED_COMPANY, None)
    return redirect(url_for("platform.companies"), 303)
