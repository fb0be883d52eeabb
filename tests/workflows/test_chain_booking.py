"""A booking the voice bridge made during the call reaches the chain: the call ends booked even when
the provider's post-call analysis says "interested", and the confirmation goes out once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from crm.email.render import latest_appointment
from crm.extensions import db
from crm.models import Appointment, Interaction, InteractionKind, Lead, LeadStatus, Role, Task, User
from tests.fakes import Script
from tests.workflows.test_lead_chain import HOT
from voice.bridge import booking
from voice.bridge.chain_notify import notify_booking
from voice.bridge.timeprefs.constraint import TimeConstraint
from workflows.payloads import CallBooking


async def test_bridge_booking_makes_an_interested_call_booked(chain):
    chain.provider.scripts["+493023125101"] = Script([("completed", "interested")])
    chain.deliver_webhooks = False  # the call is "live" until we let its result through
    chain.db(
        lambda: (
            db.session.add(User(email="anna@leadchain.example", name="Anna", role=Role.SALES)),
            db.session.commit(),
        )
    )
    chain_id = chain.post_lead(HOT)["chain_id"]
    await chain.stage(chain_id, "waiting_for_result")

    def book_on_the_call():
        call = db.session.scalars(sa.select(Interaction).where(Interaction.kind == InteractionKind.CALL)).one()
        facts = booking.lead_for_call(call.provider_ref, call.provider, None)
        now = datetime.now(UTC)
        offer = booking.find_slots(facts.lead_id, TimeConstraint(), now)
        slot = offer.wished
        result = booking.book(facts.lead_id, call.provider_ref, slot.start, slot.end, slot.owner_id)
        assert result.status == "booked" and result.chain_id == chain_id
        return result

    result = chain.db(book_on_the_call)
    signal = result.call_booking()
    assert await notify_booking(chain.client, result.chain_id, signal) == "signalled"
    # A replayed turn signals again: recorded once.
    assert await notify_booking(chain.client, result.chain_id, signal) == "signalled"
    chain.deliver_webhooks = True

    outcome = await chain.outcome(chain_id)
    assert outcome.stage == "booked"
    assert chain.email.templates_to(outcome.lead_id) == ["booking_confirmation"]
    tasks = chain.db(lambda: db.session.scalars(sa.select(Task).where(Task.lead_id == outcome.lead_id)).all())
    assert [t.kind for t in tasks] == ["appointment"]

    def check_crm():
        lead = db.session.get(Lead, outcome.lead_id)
        assert lead.status == LeadStatus.BOOKED and lead.owner_id == result.owner_id
        assert latest_appointment(lead.id).id == result.appointment_id
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 1
        call = db.session.scalars(sa.select(Interaction).where(Interaction.kind == InteractionKind.CALL)).one()
        assert call.outcome == "booked"  # record_call_outcome did not downgrade it to "interested"

    chain.db(check_crm)

    # The chain has ended: a late notification is logged and ignored.
    late = CallBooking(call_id=signal.call_id, appointment_id=signal.appointment_id)
    assert await notify_booking(chain.client, chain_id, late) == "gone"
    assert await notify_booking(chain.client, f"no-such-chain-{uuid.uuid4().hex}", late) == "gone"
    assert await notify_booking(chain.client, None, late) == "no_chain"
