"""The caller's appointments and last summaries come in one statement (crm.inbound.recognition._CONTEXT, a
UNION ALL of two limited legs), on both databases: each leg keeps its filter, order and limit, and the
company criteria reach both legs, so rows of another company that name this lead are never read. The
answer's statements name the company themselves (they run past the ORM's criteria): another company's lead,
do-not-call entry and call record are neither read nor changed, and without a company scope they refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from crm.extensions import db
from crm.inbound import calls
from crm.inbound.numbers import clear_route_cache, route_number
from crm.inbound.recognition import CallerStatus, recognise
from crm.models import (
    Appointment,
    AppointmentStatus,
    DoNotCallEntry,
    InboundCall,
    Interaction,
    Lead,
    PhoneNumber,
    Role,
    User,
)
from crm.models.interactions import Direction, InteractionKind
from crm.tenancy.context import NoCompanyScope, company_scope, operator_scope
from tests.tenancy.companies import second_company

NUMBER = "+498912345611"
CALLER = "+4930231259911"


def _seed(app, now: datetime) -> int:
    with app.app_context(), company_scope(1):
        db.session.add(PhoneNumber(e164=NUMBER, provider="retell", agent_ref="agent_x", language="de", active=True))
        owner = User(email="owner.union@example.test", name="Olaf Owner", role=Role.SALES)
        db.session.add(owner)
        db.session.flush()
        lead = Lead(source="web", first_name="Uta", last_name="Union", phone_e164=CALLER, owner_id=owner.id, tags=[])
        db.session.add(lead)
        db.session.flush()
        # Seven appointments: one cancelled, one over; of the five ahead, the order is by start.
        for days, status in ((6, None), (1, None), (9, AppointmentStatus.CANCELLED), (3, None), (-2, None)):
            db.session.add(_appointment(lead.id, owner.id, now + timedelta(days=days), f"in {days} days", status))
        for days in (4, 7, 8):
            db.session.add(_appointment(lead.id, owner.id, now + timedelta(days=days), f"in {days} days", None))
        # Five summaries, one empty and one missing: the three newest with text, newest first.
        for hours, summary in ((50, "oldest"), (40, "older"), (30, "old"), (20, ""), (10, "newest"), (5, None)):
            db.session.add(
                Interaction(
                    lead_id=lead.id,
                    kind=InteractionKind.CALL,
                    direction=Direction.OUTBOUND,
                    summary=summary,
                    created_at=now - timedelta(hours=hours),
                )
            )
        db.session.commit()
        lead_id = lead.id
        db.session.remove()
    return lead_id


def _stranger(company_id: int, email: str) -> User:
    """A rep of another company (in an operator scope), flushed so its id can be used."""
    stranger = User(company_id=company_id, email=email, name="Otto Other", role=Role.SALES)
    db.session.add(stranger)
    db.session.flush()
    return stranger


def _appointment(lead_id: int, owner_id: int, starts: datetime, title: str, status) -> Appointment:
    appointment = Appointment(
        lead_id=lead_id, owner_id=owner_id, starts_at=starts, ends_at=starts + timedelta(hours=1), title=title
    )
    if status is not None:
        appointment.status = status
    return appointment


def test_one_statement_keeps_each_legs_order_limit_and_filter(app):
    now = datetime.now(UTC)
    lead_id = _seed(app, now)
    clear_route_cache()
    statements: list[str] = []

    def seen(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    with app.app_context():
        number = route_number(NUMBER, "retell")
        with company_scope(1):
            event.listen(db.engine, "before_cursor_execute", seen)
            try:
                context = recognise(number, CALLER, now)
            finally:
                event.remove(db.engine, "before_cursor_execute", seen)
        db.session.remove()
    assert context.status is CallerStatus.KNOWN and context.lead_id == lead_id
    assert [a.title for a in context.upcoming_appointments] == [f"in {d} days" for d in (1, 3, 4, 6, 7)]
    assert all(a.starts_at.tzinfo is not None for a in context.upcoming_appointments)
    assert context.recent_summaries == ["newest", "old", "older"]
    unions = [s for s in statements if "UNION ALL" in s]
    assert len(unions) == 1 and not any("FROM appointments" in s for s in statements if s not in unions)
    # The company criteria in both legs (besides row-level security on PostgreSQL).
    assert unions[0].count("appointments.company_id") >= 1 and unions[0].count("interactions.company_id") >= 1


def test_rows_of_another_company_naming_the_lead_are_not_read(app):
    now = datetime.now(UTC)
    lead_id = _seed(app, now)
    other = second_company(app)
    with app.app_context(), operator_scope("tests", "rows of another company that point at company 1's lead"):
        stranger = _stranger(other, "owner.other@example.test")
        db.session.add(
            Appointment(
                company_id=other,
                lead_id=lead_id,
                owner_id=stranger.id,
                starts_at=now + timedelta(hours=2),
                ends_at=now + timedelta(hours=3),
                title="not yours",
            )
        )
        db.session.add(
            Interaction(
                company_id=other,
                lead_id=lead_id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                summary="not yours either",
                created_at=now,
            )
        )
        db.session.commit()
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).select_from(Appointment).where(Appointment.company_id == other)
            )
            == 1
        )
        db.session.remove()
    clear_route_cache()
    with app.app_context():
        number = route_number(NUMBER, "retell")
        with company_scope(1):
            context = recognise(number, CALLER, now)
        db.session.remove()
    assert "not yours" not in [a.title for a in context.upcoming_appointments]
    assert "not yours either" not in context.recent_summaries
    assert context.upcoming_appointments[0].title == "in 1 days" and context.recent_summaries[0] == "newest"


@pytest.mark.tenancy
def test_the_caller_and_the_calls_record_stay_in_the_scopes_company(app):
    """The answer's statements run as Core statements, past the ORM's criteria, so each names the company
    itself: another company's lead with the caller's number, its do-not-call entry for that number and its
    record of the same provider call id are neither read nor changed (SQLite has no second wall)."""
    now = datetime.now(UTC)
    lead_id = _seed(app, now)
    other = second_company(app)
    with app.app_context(), operator_scope("tests", "another company knows the same caller"):
        stranger = _stranger(other, "owner.fremd@example.test")
        theirs = Lead(company_id=other, source="web", first_name="Fritz", last_name="Fremd", phone_e164=CALLER, tags=[])
        theirs.owner_id = stranger.id
        db.session.add(theirs)
        db.session.add(DoNotCallEntry(company_id=other, phone_e164=CALLER, source="internal", reason="other's list"))
        db.session.commit()
        their_lead = theirs.id
        db.session.remove()
    clear_route_cache()
    with app.app_context():
        number = route_number(NUMBER, "retell")
        with company_scope(1):
            context = recognise(number, CALLER, now)
            calls.record_answered(
                "retell", "call_shared_ref", number_id=number.number_id, lead_id=None, within_hours=True
            )
            db.session.commit()
        with company_scope(other):
            # A call id company 1's call already has: nothing of company 1's row changes from here.
            calls.record_answered("retell", "call_shared_ref", number_id=None, lead_id=their_lead, within_hours=True)
            db.session.commit()
        with operator_scope("tests", "read the record back"):
            rows = db.session.execute(
                sa.select(InboundCall.company_id, InboundCall.lead_id).where(InboundCall.call_ref == "call_shared_ref")
            ).all()
        db.session.remove()
    assert context.lead_id == lead_id and context.name == "Uta Union" and context.owner_name == "Olaf Owner"
    assert context.objected_to_calls is False  # the other company's list is not this company's
    assert rows == [(1, None)]


@pytest.mark.tenancy
def test_the_answers_statements_need_a_company_scope(app):
    clear_route_cache()
    _seed(app, datetime.now(UTC))
    with app.app_context():
        number = route_number(NUMBER, "retell")
        with pytest.raises(NoCompanyScope):
            recognise(number, CALLER)
        with pytest.raises(NoCompanyScope):
            calls.record_answered("retell", "call_no_scope", number_id=None, lead_id=None, within_hours=True)
        db.session.remove()
