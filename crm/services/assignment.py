"""Automatic owner assignment for new leads, so follow-up work always has somebody to land on.

When intake creates a lead without an owner, the admin's rules (AssignmentRule, kept in Settings →
Assignment) are tried in order; the first rule that matches the lead (language, country, postcode prefix,
source) and has an available rep picks the next rep of its team in round robin. No matching rule: the
fallback rotates over the active sales reps, those speaking the lead's language when there are any.

A manual choice always wins: only a lead with no owner is ever assigned, and nothing here changes an
owner once set. Each assignment is audited on the lead (actor "assignment", action
"lead.assigned_automatically", with the rule), so it shows on the timeline.

Round robin is a counter per pool (AssignmentCounter) incremented by one UPDATE ... RETURNING inside the
caller's transaction: on PostgreSQL the row lock, on SQLite the database write lock, serialise concurrent
intakes, so each gets its own slot and the turns stay even. Functions here flush and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crm.extensions import db
from crm.models import AssignmentCounter, AssignmentRule, Lead, Role, Task, TaskStatus, User
from crm.models.types import utcnow
from crm.services import audit

ACTOR = "assignment"
FALLBACK = "fallback"


@dataclass(frozen=True)
class LeadFacts:
    """What the rules look at. Country: the stated one, else the phone number's region."""

    language: str
    country: str | None
    postcode: str | None
    source: str

    @classmethod
    def of(cls, lead: Lead, *, country: str | None = None, postcode: str | None = None) -> LeadFacts:
        return cls(
            language=(lead.language or "de").lower(),
            country=(country or lead.phone_region or "").upper() or None,
            postcode=(postcode or "").replace(" ", "").upper() or None,
            source=(lead.source or "").lower(),
        )


@dataclass(frozen=True)
class Pick:
    user_id: int
    rule_id: int | None  # None: the fallback
    rule_name: str


def rule_matches(rule: AssignmentRule, facts: LeadFacts) -> bool:
    """Every criterion the rule lists must hold; an empty list matches any lead."""
    if rule.languages and facts.language not in {v.lower() for v in rule.languages}:
        return False
    if rule.countries and facts.country not in {v.upper() for v in rule.countries}:
        return False
    if rule.postcode_prefixes and not (
        facts.postcode and any(facts.postcode.startswith(p.replace(" ", "").upper()) for p in rule.postcode_prefixes)
    ):
        return False
    if rule.sources and facts.source not in {v.lower() for v in rule.sources}:
        return False
    return True


def active_sales_reps() -> list[User]:
    return list(
        db.session.scalars(sa.select(User).where(User.role == Role.SALES, User.active.is_(True)).order_by(User.id))
    )


def _team(rule: AssignmentRule) -> list[User]:
    if not rule.rep_ids:
        return active_sales_reps()
    ids = [i for i in rule.rep_ids if isinstance(i, int) and not isinstance(i, bool)]
    return list(db.session.scalars(sa.select(User).where(User.id.in_(ids), User.active.is_(True)).order_by(User.id)))


def _speaking(users: Iterable[User], language: str) -> list[User]:
    return [u for u in users if (u.language or "").lower() == language]


def _next_slot(key: str, size: int) -> int:
    """The pool's next turn (0..size-1), taken atomically in the caller's transaction."""
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # One counter per company and pool: the conflict is on the primary key (company_id, key); the ORM fills
    # company_id from the scope (crm.tenancy.orm).
    db.session.execute(
        insert(AssignmentCounter)
        .values(key=key, value=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["company_id", "key"])
    )
    value = db.session.execute(
        sa.update(AssignmentCounter)
        .where(AssignmentCounter.key == key)
        .values(value=AssignmentCounter.value + 1, updated_at=utcnow())
        .returning(AssignmentCounter.value)
    ).scalar_one()
    return (value - 1) % size


def _rotate(key: str, users: list[User]) -> int:
    return users[_next_slot(key, len(users))].id


def rules() -> list[AssignmentRule]:
    return list(db.session.scalars(sa.select(AssignmentRule).order_by(AssignmentRule.position, AssignmentRule.id)))


def choose(facts: LeadFacts) -> Pick | None:
    """The owner the rules give a lead with these facts (advancing that pool's turn), or None when there
    is no active rep at all."""
    for rule in rules():
        if not rule.active or not rule_matches(rule, facts):
            continue
        team = _team(rule)
        key = f"rule:{rule.id}"
        if rule.match_rep_language:
            team, key = _speaking(team, facts.language), f"{key}:{facts.language}"
        if team:  # a rule whose team is empty (everyone away, nobody speaks it) passes the lead on
            return Pick(_rotate(key, team), rule.id, rule.name)
    reps = active_sales_reps()
    speaking = _speaking(reps, facts.language)
    if speaking:
        return Pick(_rotate(f"{FALLBACK}:{facts.language}", speaking), None, FALLBACK)
    if reps:
        return Pick(_rotate(f"{FALLBACK}:all", reps), None, FALLBACK)
    return None


def _apply(lead: Lead, pick: Pick) -> None:
    lead.owner_id = pick.user_id
    # The timeline shows the rule (crm.ui.display.audit_lines); rule_id None is the fallback.
    audit.record(
        ACTOR,
        "lead.assigned_automatically",
        "lead",
        lead.id,
        before={"owner_id": None},
        after={"owner_id": pick.user_id, "rule": pick.rule_name, "rule_id": pick.rule_id},
    )
    db.session.flush()


def assign_new_lead(lead: Lead, *, country: str | None = None, postcode: str | None = None) -> Pick | None:
    """Give a just-created lead its owner by the rules (a lead created with an owner keeps it)."""
    if lead.owner_id is not None:
        return None
    pick = choose(LeadFacts.of(lead, country=country, postcode=postcode))
    if pick is not None:
        _apply(lead, pick)
    return pick


def assign_if_unowned(lead_id: int) -> int | None:
    """The lead's owner; a lead still without one (created before the rules, or when nobody was
    active) gets the rules' pick now. Locks the lead row so a manager's concurrent choice is never
    overwritten. None when there is still nobody to assign."""
    lead = db.session.get(Lead, lead_id, with_for_update=True, populate_existing=True)
    if lead is None:
        return None
    if lead.owner_id is None and lead.merged_into_id is None:
        pick = choose(LeadFacts.of(lead))
        if pick is not None:
            _apply(lead, pick)
    return lead.owner_id


def unassigned_lead_ids() -> list[int]:
    """Live leads nobody owns, oldest first."""
    return list(
        db.session.scalars(
            sa.select(Lead.id).where(Lead.owner_id.is_(None), Lead.merged_into_id.is_(None)).order_by(Lead.id)
        )
    )


def assign_unassigned() -> tuple[int, int]:
    """Apply the rules to every live lead still without an owner (those from before the rules, or from a
    time without active reps), and hand each one's open tasks nobody owns to its new owner.
    (leads assigned, tasks handed over). Runs in the caller's transaction."""
    leads = tasks = 0
    for lead_id in unassigned_lead_ids():
        owner_id = assign_if_unowned(lead_id)
        if owner_id is None:
            continue
        leads += 1
        for task in db.session.scalars(
            sa.select(Task).where(Task.lead_id == lead_id, Task.owner_id.is_(None), Task.status == TaskStatus.OPEN)
        ):
            task.owner_id = owner_id
            audit.record(
                ACTOR,
                "task.assigned_automatically",
                "task",
                task.id,
                before={"owner_id": None},
                after={"owner_id": owner_id, "lead_id": lead_id},
            )
            tasks += 1
    db.session.flush()
    return leads, tasks
