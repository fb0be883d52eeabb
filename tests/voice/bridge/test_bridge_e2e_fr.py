"""End to end in French (issue 15 item 5): a French-speaking lead (language "fr") goes through the whole
chain of test_bridge_e2e.py (real Temporal dev server, real workers, PostgreSQL, the real Retell adapter, the
provider sandbox talking to the running voice bridge over the Custom LLM WebSocket, the rules policy booking
in the CRM, the sandbox's signed webhooks back to the CRM and the chain). The callee is the sandbox's French
persona, so both sides of the call speak French:

* a Swiss French lead (+41, language "fr"; a Swiss number alone would be a German callee) whose "books"
  persona says "Volontiers, jeudi prochain à partir de 16 heures." is booked on Thursday of next week at
  16:00 or later; the agent opened with the French AI and recording disclosure and named the booked slot in
  the bridge's French wording, and the sandbox's summary names that same slot in French;
* a French lead (+33) whose "do_not_call" persona says "Ne m'appelez plus jamais!" ends do-not-contact,
  recorded by the bridge during the call, with no second call.
"""

from __future__ import annotations

import asyncio
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Appointment, AuditEntry, Interaction, InteractionKind, Lead, LeadStatus
from tests.voice.bridge.test_bridge_e2e import (
    NEXT_WEEK_THURSDAY,
    live,  # noqa: F401 (a fixture)
    retell_call,
)
from voice.bridge.dialog import phrases
from voice.bridge.timeprefs import speak

BERLIN = ZoneInfo("Europe/Berlin")
FR = "fr"
# A lead from a French-speaking form: the language field says French; consent given by a ticked box.
SWISS_FRENCH = {
    "first_name": "Camille",
    "last_name": "Rochat",
    "company": "Fiduciaire Rochat Sàrl",
    "email": "camille.rochat@fiduciaire-rochat.ch",
    "phone": "+41 22 310 41 50",  # ends in 0: the "books" persona
    "phone_consent": "true",
    "interest": "Offre pour 3 sites",
    "language": FR,
}


def agent_lines(call) -> list[str]:
    return [text for who, text in call.extra["live_transcript"] if who == "agent"]


def assert_french_opening(call) -> None:
    """The agent's first words: the AI and recording disclosure and the objection notice, in French."""
    first = agent_lines(call)[0]
    assert phrases.pattern("opening", FR).match(first), first
    assert "intelligence artificielle" in first and "enregistré" in first
    assert phrases.say("objection", FR) in first, first


async def test_a_french_lead_who_wants_next_thursday_after_4_is_booked_in_french(live):  # noqa: F811
    chain_id = live.post_lead(SWISS_FRENCH)["chain_id"]
    outcome = await live.outcome(chain_id, timeout=60)
    call = retell_call(live)
    spoken = call.extra["live_transcript"]
    assert call.language == FR, call.language  # the callee spoke French although the number is Swiss
    assert ("callee", "Volontiers, jeudi prochain à partir de 16 heures.") in spoken
    assert_french_opening(call)
    assert outcome.stage == "booked", spoken

    def crm():
        [appointment] = db.session.scalars(sa.select(Appointment)).all()
        lead = db.session.get(Lead, outcome.lead_id)
        interaction = db.session.scalars(sa.select(Interaction).where(Interaction.kind == InteractionKind.CALL)).one()
        return appointment, lead, interaction

    appointment, lead, interaction = live.db(crm)
    assert lead.language == FR
    start, end = appointment.starts_at.astimezone(BERLIN), appointment.ends_at.astimezone(BERLIN)
    assert start.date() == NEXT_WEEK_THURSDAY and start.time() >= time(16, 0), start
    assert end.time() <= time(18, 0) and end - start == timedelta(minutes=30)
    assert appointment.lead_id == lead.id and lead.status == LeadStatus.BOOKED
    assert appointment.idempotency_key.startswith(f"{call.call_id}:")  # the bridge booked it, during the call
    assert interaction.provider_ref == call.call_id and interaction.outcome == "booked"
    # The agent confirmed the booked slot in French ("jeudi 28 novembre à 16 h 30"), and the last thing it
    # said was the French goodbye.
    slot = speak.render_slot(appointment.starts_at, FR)
    assert slot.startswith("jeudi 28 novembre à "), slot
    assert phrases.say("booked", FR, slot=slot) in agent_lines(call)[-1], agent_lines(call)[-1]
    assert agent_lines(call)[-1].endswith(phrases.say("goodbye", FR))
    # The provider's summary (the sandbox's, from the call's tool record) names that slot, in French, and the
    # CRM stored it from the signed webhook.
    assert interaction.summary == f"Rendez-vous pris: {slot}.", interaction.summary
    # Exactly one confirmation, with the invite.
    mails = live.sandbox.sendgrid.messages(lead_id=str(lead.id))
    confirmations = [m for m in mails if "booking_confirmation" in m.categories]
    assert len(confirmations) == 1, [m.categories for m in mails]
    assert any(a["filename"].endswith(".ics") for a in confirmations[0].attachments)


async def test_a_french_caller_who_says_never_call_again_is_do_not_contact(live):  # noqa: F811
    lead = {**SWISS_FRENCH, "phone": "+33 1 42 68 53 03", "email": "camille.rochat@cabinet-rochat.fr"}  # "do_not_call"
    chain_id = live.post_lead(lead)["chain_id"]
    outcome = await live.outcome(chain_id, timeout=60)
    call = retell_call(live)
    assert ("callee", "Ne m'appelez plus jamais!") in call.extra["live_transcript"]
    assert_french_opening(call)
    agent = agent_lines(call)
    assert len(agent) == 2, agent  # the introduction and the acknowledgement: the call ended right there
    assert agent[1].startswith(phrases.say("opted_out", FR)) and agent[1].endswith(phrases.say("goodbye", FR))

    def crm():
        lead = db.session.get(Lead, outcome.lead_id)
        by_bridge = db.session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.action == "lead.do_not_contact", AuditEntry.actor == f"voice-bridge:{call.call_id}"
            )
        ).all()
        return lead, by_bridge

    lead_row, by_bridge = live.db(crm)
    assert lead_row.do_not_contact and lead_row.status == LeadStatus.DO_NOT_CONTACT
    assert len(by_bridge) == 1, "the bridge did not record the objection during the call"
    assert outcome.stage in ("do_not_contact", "closed", "ended"), outcome
    await asyncio.sleep(1.0)
    async with httpx.AsyncClient() as client:
        stats = (await client.get(f"{live.sandbox_url}/sandbox/stats")).json()
    assert stats["created"].get("retell", 0) == 1  # no further call
