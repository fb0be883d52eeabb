"""Settings → Assignment (admins only): the rules that give a new lead its owner (crm.services.assignment).

GET lists the rules in the order they are tried, each editable in place, a form for a new one, and the
fallback (round robin over the active sales reps, language-matched when possible) with the reps it
rotates over. POSTs create, change, move and delete a rule. A bad form is refused with 422 and a message
at each bad field; nothing is stored. Every change is audited (entity type "assignment_rule").
Rules apply to leads created after the change; a lead that has an owner is never reassigned. "Assign
now" applies them once to the leads still without an owner (and gives their open unowned tasks to the
new owner).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from crm.extensions import db
from crm.models import AssignmentRule, Role, User
from crm.services import assignment, audit
from crm.ui.access import admin_only, user
from crm.ui.i18n import LANGUAGES, _

bp = Blueprint("settings_assignment", __name__, url_prefix="/settings/assignment")

RULE_FIELDS = (
    "name",
    "position",
    "active",
    "languages",
    "countries",
    "postcode_prefixes",
    "sources",
    "rep_ids",
    "match_rep_language",
)
MAX_ITEMS = 100
_COUNTRY = re.compile(r"[A-Z]{2}")
_POSTCODE = re.compile(r"[0-9A-Z]{1,10}")
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_ID = re.compile(r"[0-9]{1,9}")  # ASCII digits of an INTEGER's size ("²".isdigit() is true)


@dataclass
class RuleForm:
    """A submitted rule: the values as typed (for showing them again) and the parsed ones."""

    raw: dict[str, object] = field(default_factory=dict)
    values: dict[str, object] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _items(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,;\s]+", text) if p.strip()]


def _list_errors() -> dict[str, str]:
    # A function, not a constant: the messages are translated in the request's language.
    return {
        "countries": _("Countries are two-letter ISO codes such as DE, AT, CH, separated by commas."),
        "postcode_prefixes": _("Postcode prefixes are letters and digits (up to 10), separated by commas."),
        "sources": _("Sources are names such as website or partner, separated by commas."),
    }


def _checked_items(
    lists: dict[str, str], key: str, normalise: Callable[[str], str], pattern: re.Pattern[str], errors: dict[str, str]
) -> list[str]:
    """One comma-separated list field, normalised; an error under its key when too long or an item is bad."""
    items = [normalise(i) for i in _items(lists[key])]
    if len(items) > MAX_ITEMS or any(not pattern.fullmatch(i) for i in items):
        errors[key] = _list_errors()[key]
    return items


def _rep_ids(raw_rep_ids: list[str], errors: dict[str, str]) -> list[int]:
    """The chosen reps' ids: each must be an id of an active user."""
    rep_ids: list[int] = []
    for raw in raw_rep_ids:
        if not _ID.fullmatch(raw or ""):
            errors["rep_ids"] = _("Please choose reps from the list.")
            return rep_ids
        rep_ids.append(int(raw))
    if rep_ids:
        known = set(db.session.scalars(sa.select(User.id).where(User.id.in_(rep_ids), User.active.is_(True))))
        if set(rep_ids) - known:
            errors["rep_ids"] = _("Please choose reps from the list.")
    return rep_ids


def _parse(form: MultiDict[str, str]) -> RuleForm:
    f = RuleForm()
    name = (form.get("name") or "").strip()
    # Typed locals first: `raw` keeps them as typed (object values) only for showing the form again.
    languages = form.getlist("languages")
    raw_rep_ids = form.getlist("rep_ids")
    lists = {k: (form.get(k) or "").strip() for k in ("countries", "postcode_prefixes", "sources")}
    f.raw = {
        "name": name,
        "active": form.get("active") == "1",
        "match_rep_language": form.get("match_rep_language") == "1",
        "languages": languages,
        "rep_ids": raw_rep_ids,
        **lists,
    }
    if not name or len(name) > 100:
        f.errors["name"] = _("Please enter a name of at most 100 characters.")
    if any(code not in LANGUAGES for code in languages):
        f.errors["languages"] = _("Please choose languages from the list.")
    countries = _checked_items(lists, "countries", str.upper, _COUNTRY, f.errors)
    prefixes = _checked_items(lists, "postcode_prefixes", str.upper, _POSTCODE, f.errors)
    sources = _checked_items(lists, "sources", str.lower, _SOURCE, f.errors)
    rep_ids = _rep_ids(raw_rep_ids, f.errors)
    f.values = {
        "name": name,
        "active": f.raw["active"],
        "match_rep_language": f.raw["match_rep_language"],
        "languages": sorted(set(languages)),
        "countries": sorted(set(countries)),
        "postcode_prefixes": sorted(set(prefixes)),
        "sources": sorted(set(sources)),
        "rep_ids": sorted(set(rep_ids)),
    }
    return f


def _actor() -> str:
    return f"user:{user().id}"


def _rule_or_404(rule_id: int) -> AssignmentRule:
    rule = db.session.get(AssignmentRule, rule_id)
    if rule is None:
        abort(404)
    return rule


def _renumber(rules: list[AssignmentRule]) -> None:
    for position, rule in enumerate(rules, start=1):
        rule.position = position


def _page(*, form: RuleForm | None = None, form_for: str | None = None, status: int = 200):
    rules = assignment.rules()
    people = db.session.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.name, User.id)).all()
    reps = [p for p in people if p.role == Role.SALES]
    names = {p.id: p.name for p in people}
    return render_template(
        "ui/settings/assignment.html",
        rules=rules,
        people=people,
        reps=reps,
        names=names,
        languages=LANGUAGES,
        form=form or RuleForm(),
        form_for=form_for,
        unassigned=len(assignment.unassigned_lead_ids()),
    ), status


@bp.get("")
@admin_only
def index():
    """The rules in the order they are tried, the fallback, and a form for a new rule."""
    return _page()


@bp.post("/rules")
@admin_only
def create_rule():
    """Add a rule at the end of the list."""
    form = _parse(request.form)
    if form.errors:
        return _page(form=form, form_for="new", status=422)
    last = db.session.scalar(sa.select(sa.func.max(AssignmentRule.position))) or 0
    rule = AssignmentRule(position=last + 1, updated_by=_actor(), **form.values)
    db.session.add(rule)
    db.session.flush()
    audit.record(
        _actor(), "assignment_rule.create", "assignment_rule", rule.id, after=audit.snapshot(rule, RULE_FIELDS)
    )
    db.session.commit()
    flash(_("Rule %(name)s added; it applies to leads created from now on.", name=rule.name), "success")
    return redirect(url_for("settings_assignment.index"))


@bp.post("/rules/<int:rule_id>")
@admin_only
def update_rule(rule_id: int):
    """Change a rule's name, criteria, team and state."""
    rule = _rule_or_404(rule_id)
    form = _parse(request.form)
    if form.errors:
        return _page(form=form, form_for=str(rule.id), status=422)
    before = audit.snapshot(rule, RULE_FIELDS)
    for key, value in form.values.items():
        setattr(rule, key, value)
    rule.updated_by = _actor()
    audit.record(
        _actor(),
        "assignment_rule.update",
        "assignment_rule",
        rule.id,
        before=before,
        after=audit.snapshot(rule, RULE_FIELDS),
    )
    db.session.commit()
    flash(_("Rule %(name)s saved.", name=rule.name), "success")
    return redirect(url_for("settings_assignment.index"))


@bp.post("/rules/<int:rule_id>/move")
@admin_only
def move_rule(rule_id: int):
    """Try a rule one place earlier ("up") or later ("down")."""
    rule = _rule_or_404(rule_id)
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        flash(_("Please choose up or down."), "error")
        return _page(status=422)
    rules = assignment.rules()
    i = next(n for n, r in enumerate(rules) if r.id == rule.id)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(rules):
        before = [r.id for r in rules]
        rules[i], rules[j] = rules[j], rules[i]
        _renumber(rules)
        audit.record(
            _actor(),
            "assignment_rule.move",
            "assignment_rule",
            rule.id,
            before={"order": before},
            after={"order": [r.id for r in rules]},
        )
        db.session.commit()
        flash(_("Order saved."), "success")
    return redirect(url_for("settings_assignment.index"))


@bp.post("/rules/<int:rule_id>/delete")
@admin_only
def delete_rule(rule_id: int):
    """Remove a rule; leads it assigned keep their owner."""
    rule = _rule_or_404(rule_id)
    audit.record(
        _actor(), "assignment_rule.delete", "assignment_rule", rule.id, before=audit.snapshot(rule, RULE_FIELDS)
    )
    name = rule.name
    db.session.delete(rule)
    db.session.flush()
    _renumber(assignment.rules())
    db.session.commit()
    flash(_("Rule %(name)s deleted.", name=name), "success")
    return redirect(url_for("settings_assignment.index"))


@bp.post("/apply")
@admin_only
def assign_unassigned():
    """Give every lead still without an owner one by the rules, with its open tasks nobody owns."""
    leads, tasks = assignment.assign_unassigned()
    db.session.commit()
    if leads:
        flash(_("%(leads)d leads and %(tasks)d open tasks assigned.", leads=leads, tasks=tasks), "success")
    else:
        flash(_("No lead could be assigned: there is nobody active to assign to, or every lead has an owner."), "info")
    return redirect(url_for("settings_assignment.index"))
