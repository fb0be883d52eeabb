"""Finding a person: every lead record of theirs in the current company, however intake or reps split them.

A person can sit in several records: merged ones (merged_into_id, kept for history), records a rep never
merged but the intake flagged as possible duplicates, and records that share the email key or phone. The
search starts from what the requester gave (email, phone, lead id) and follows those links until nothing
new turns up."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Lead, PossibleDuplicate
from crm.services.normalize import FieldError, normalise_email, normalise_phone

MAX_RECORDS = 200  # a runaway link chain (a data error) stops here instead of walking the whole table


class SubjectNotFound(LookupError):
    pass


@dataclass(frozen=True)
class SubjectQuery:
    """What the requester gave; at least one is set. Bad values raise FieldError naming the field."""

    email: str | None = None
    phone: str | None = None
    lead_id: int | None = None

    def problems(self, region: str) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if not (self.email or self.phone or self.lead_id):
            errors["email"] = ["give an email, a phone number or a lead id"]
        if self.email:
            try:
                normalise_email(self.email)
            except FieldError as e:
                errors["email"] = [str(e)]
        if self.phone:
            try:
                normalise_phone(self.phone, region)
            except FieldError as e:
                errors["phone"] = [str(e)]
        return errors


def _seed(query: SubjectQuery, region: str) -> set[int]:
    found: set[int] = set()
    if query.lead_id:
        found |= set(db.session.scalars(sa.select(Lead.id).where(Lead.id == query.lead_id)))
    if query.email:
        email, key = normalise_email(query.email)
        found |= set(db.session.scalars(sa.select(Lead.id).where(sa.or_(Lead.email_key == key, Lead.email == email))))
    if query.phone:
        e164 = normalise_phone(query.phone, region).e164
        found |= set(db.session.scalars(sa.select(Lead.id).where(Lead.phone_e164 == e164)))
    return found


def _neighbours(ids: set[int]) -> set[int]:
    """Records one link away: merged into / from, flagged duplicate pairs, the same email key or phone."""
    rows = db.session.execute(
        sa.select(Lead.id, Lead.merged_into_id, Lead.email_key, Lead.phone_e164).where(Lead.id.in_(ids))
    ).all()
    keys = {r.email_key for r in rows if r.email_key}
    phones = {r.phone_e164 for r in rows if r.phone_e164}
    linked = {r.merged_into_id for r in rows if r.merged_into_id}
    linked |= set(db.session.scalars(sa.select(Lead.id).where(Lead.merged_into_id.in_(ids))))
    if keys:
        linked |= set(db.session.scalars(sa.select(Lead.id).where(Lead.email_key.in_(keys))))
    if phones:
        linked |= set(db.session.scalars(sa.select(Lead.id).where(Lead.phone_e164.in_(phones))))
    pairs = db.session.execute(
        sa.select(PossibleDuplicate.lead_id, PossibleDuplicate.candidate_id).where(
            sa.or_(PossibleDuplicate.lead_id.in_(ids), PossibleDuplicate.candidate_id.in_(ids)),
            # A dismissed pair was judged to be two people by a rep.
            PossibleDuplicate.status != "dismissed",
        )
    ).all()
    for pair in pairs:
        linked |= {pair.lead_id, pair.candidate_id}
    return linked


def find_person(query: SubjectQuery, *, region: str = "DE") -> list[int]:
    """The ids of every lead record of the person, ascending. Raises SubjectNotFound when there is none."""
    found = _seed(query, region)
    frontier = set(found)
    while frontier and len(found) < MAX_RECORDS:
        frontier = _neighbours(frontier) - found
        found |= frontier
    if not found:
        raise SubjectNotFound("no lead record matches")
    return sorted(found)[:MAX_RECORDS]
