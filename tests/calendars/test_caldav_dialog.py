"""A call against a rep's calendar that changes during it (issue 18), on SQLite and PostgreSQL: a real Radicale
(tests/calendars/conftest.py), the production RulesPolicy over the real CRM tools (voice/bridge/crm_tools.py
over booking.py). The slot offered is made busy in the rep's own calendar between the offer and the caller's
yes, after the last sync, so only the calendar knows: the caller hears that it is gone and is offered other
times, and the appointment is made at one of those, once, never on top of the calendar's event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from crm.calendars.sync import sync_connection
from crm.extensions import db
from crm.models import Appointment, Lead
from tests.calendars.test_caldav import _ics
from tests.voice.bridge.test_dialog_support import NOW, Conversation
from tests.voice.content_timing import CONTENT_TIMING
from voice.bridge.config import BridgeConfig
from voice.bridge.crm_tools import CallContext, CrmToolsFactory
from voice.bridge.dialog import phrases
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.types import Callee
from voice.bridge.metrics import BridgeMetrics

BERLIN = ZoneInfo("Europe/Berlin")
# The dialog's clock (tests/voice/bridge/test_dialog_support.py): Monday 16 December 2030, 10:00 Berlin; the
# team works Mon-Fri 09-17.
TUESDAY_10 = datetime(2030, 12, 17, 10, 0, tzinfo=BERLIN)


def _overlaps_busy(start: datetime) -> bool:
    busy_from, busy_to = TUESDAY_10 - timedelta(minutes=30), TUESDAY_10 + timedelta(hours=1)
    return start < busy_to and start + timedelta(minutes=30) > busy_from


async def test_a_slot_taken_in_the_calendar_between_offer_and_yes_is_not_booked(app, ctx, connect_rep):
    rep = connect_rep()
    lead = Lead(
        first_name="Dana",
        last_name="Weber",
        company="Krause GmbH",
        phone_e164="+493023125101",
        language="de",
        source="website",
        owner_id=rep.user.id,
    )
    db.session.add(lead)
    db.session.commit()
    assert sync_connection(rep.connection.id, now=NOW.astimezone(UTC)).error is None  # nothing busy yet
    factory = CrmToolsFactory(
        app, config=BridgeConfig(port=0, metrics_port=0, **CONTENT_TIMING), metrics=BridgeMetrics()
    )
    try:
        callee = Callee(lead_id=lead.id, first_name="Dana", last_name="Weber", company="Krause GmbH", language="de")
        tools = factory.tools(CallContext("call-cal", "retell", callee=callee, chain_id=None), speak=None, now=NOW)
        call = Conversation(RulesPolicy(), tools, callee=callee)

        offer = await call.play(["Ja, am Apparat. Ich hätte gern einen Termin.", "Am Dienstag um 10 Uhr."])
        assert [s.start for s in offer.result.offered] == [TUESDAY_10], offer.text

        # The rep's own calendar gets an event over the offered slot (Tuesday 09:30-11:00 Berlin) while the
        # caller thinks it over; no sync runs, so the busy table does not know it.
        rep.dav().save_event(_ics("UID:booked-by-the-rep\r\nDTSTART:20301217T083000Z\r\nDTEND:20301217T100000Z"))

        gone = await call.hear("Ja, passt.")
        # Gone, and the wish cannot be met now: said so, and asked before other times are named (the offer
        # invariant, docs/voice-bridge.md §V11). Before the re-check synced the calendar, the search still
        # found 10:00 free, dropped it as just refused, and had nothing else to say.
        assert gone.text == " ".join(phrases.say(key, "de") for key in ("taken", "wish_full", "alternatives_ask")), (
            gone.text
        )
        assert gone.result.booking is not None and gone.result.booking.status == "taken"
        assert not gone.result.end_call and gone.result.offered == ()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 0

        others = await call.hear("Ja, gerne.")
        alternatives = [s.start for s in others.result.offered]
        assert alternatives and not any(_overlaps_busy(start) for start in alternatives), others.text

        done = await call.hear("Ja, der erste passt.")
        assert done.result.classification == "booked", done.text
        db.session.expire_all()
        [appointment] = db.session.scalars(sa.select(Appointment)).all()
        assert appointment.lead_id == lead.id and appointment.owner_id == rep.user.id
        assert appointment.starts_at.astimezone(BERLIN) == alternatives[0].astimezone(BERLIN)
        assert not _overlaps_busy(appointment.starts_at)
    finally:
        factory.close()
