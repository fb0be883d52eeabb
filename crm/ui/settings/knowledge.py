"""Settings → knowledge base: the questions and answers each inbound number's agent answers callers from
(issue 17; crm.inbound.knowledge). Admins add, edit, switch off and delete entries; every change is audited.
A bad entry is refused with 422 naming the field, and nothing is stored."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from crm.extensions import db
from crm.models import KnowledgeEntry, PhoneNumber
from crm.services import audit
from crm.ui.access import admin_only
from crm.ui.i18n import _
from crm.ui.settings.blueprint import actor, bp

MAX_QUESTION = 500
MAX_ANSWER = 2000
FIELDS = ("phone_number_id", "question", "answer", "active")


def _page(status: int = 200) -> ResponseReturnValue:
    numbers = db.session.scalars(sa.select(PhoneNumber).order_by(PhoneNumber.e164)).all()
    entries = db.session.scalars(sa.select(KnowledgeEntry).order_by(KnowledgeEntry.phone_number_id, KnowledgeEntry.id))
    by_number: dict[int, list[KnowledgeEntry]] = {}
    for entry in entries:
        by_number.setdefault(entry.phone_number_id, []).append(entry)
    return render_template("ui/settings/knowledge.html", numbers=numbers, by_number=by_number), status


def _problems(question: str, answer: str) -> list[str]:
    problems = []
    if not question or len(question) > MAX_QUESTION:
        problems.append(_("Question: required, at most %(n)s characters.", n=MAX_QUESTION))
    if not answer or len(answer) > MAX_ANSWER:
        problems.append(_("Answer: required, at most %(n)s characters.", n=MAX_ANSWER))
    return problems


def _refuse(problems: list[str]) -> ResponseReturnValue:
    for problem in problems:
        flash(problem, "error")
    return _page(422)


@bp.get("/knowledge")
@admin_only
def knowledge() -> ResponseReturnValue:
    """Each inbound number with its questions and answers."""
    return _page()


@bp.post("/knowledge")
@admin_only
def add_knowledge() -> ResponseReturnValue:
    """A new question and answer for one of the company's numbers."""
    raw_number = (request.form.get("phone_number_id") or "").strip()
    question = " ".join((request.form.get("question") or "").split())
    answer = (request.form.get("answer") or "").strip()
    number = db.session.get(PhoneNumber, int(raw_number)) if raw_number.isdigit() and len(raw_number) < 10 else None
    problems = [] if number is not None else [_("Number: please choose one of the company's numbers.")]
    problems += _problems(question, answer)
    if problems or number is None:
        return _refuse(problems)
    entry = KnowledgeEntry(phone_number_id=number.id, question=question, answer=answer, active=True)
    db.session.add(entry)
    db.session.flush()
    audit.record(actor(), "knowledge.create", "knowledge_entry", entry.id, after=audit.snapshot(entry, FIELDS))
    db.session.commit()
    flash(_("Entry saved."), "success")
    return redirect(url_for("settings.knowledge"), 303)


@bp.post("/knowledge/<int:entry_id>")
@admin_only
def update_knowledge(entry_id: int) -> ResponseReturnValue:
    """Change an entry's question, answer, or whether the agent uses it."""
    entry = db.session.get(KnowledgeEntry, entry_id)
    if entry is None:
        abort(404)
    question = " ".join((request.form.get("question") or "").split())
    answer = (request.form.get("answer") or "").strip()
    problems = _problems(question, answer)
    if problems:
        return _refuse(problems)
    before = audit.snapshot(entry, FIELDS)
    entry.question, entry.answer = question, answer
    entry.active = request.form.get("active", "1") == "1"
    audit.record(
        actor(), "knowledge.update", "knowledge_entry", entry.id, before=before, after=audit.snapshot(entry, FIELDS)
    )
    db.session.commit()
    flash(_("Entry saved."), "success")
    return redirect(url_for("settings.knowledge"), 303)


@bp.post("/knowledge/<int:entry_id>/delete")
@admin_only
def delete_knowledge(entry_id: int) -> ResponseReturnValue:
    entry = db.session.get(KnowledgeEntry, entry_id)
    if entry is None:
        abort(404)
    audit.record(actor(), "knowledge.delete", "knowledge_entry", entry.id, before=audit.snapshot(entry, FIELDS))
    db.session.delete(entry)
    db.session.commit()
    flash(_("Entry deleted."), "success")
    return redirect(url_for("settings.knowledge"), 303)
