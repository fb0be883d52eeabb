"""The offer invariant in whole dialogs, against the real CRM tools (crm_tools.CrmTools over booking.py on
SQLite): a wish outside the opening hours gets the real reason and a question, and only after a yes the
nearest alternatives, said as alternatives; "nothing free" only when the calendar is full there.

The policy is the production RulesPolicy, whose offer step is offer_speech.present (docs/voice-bridge.md
§V11)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Appointment, Lead, Role, User
from tests.voice.bridge.test_dialog_support import Conversation
from tests.voice.content_timing import CONTENT_TIMING
from voice.bridge.config import BridgeConfig
from voice.bridge.crm_tools import CallContext, CrmToolsFactory
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.types import Callee
from voice.bridge.metrics import BridgeMetrics

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2030, 12, 16, 10, 0, tzinfo=BERLIN)  # Monday 16 December 2030
pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=BERLIN)


@pytest.fixture
def crm(app, ctx):
    """A rep with the team's hours (Mon-Fri 9-17), a German and an English lead, the CRM tools over them."""
    rep = User(email="anna@leadchain.example", name="Anna", role=Role.SALES, timezone="Europe/Berlin", active=True)
    db.session.add(rep)
    db.session.flush()
    leads = {}
    for language, phone in (("de", "+493023125101"), ("en", "+493023125102")):
        lead = Lead(
            first_name="Dana",
            last_name="Weber",
            company="Krause GmbH",
            email=f"dana.{language}@krause.example",
            phone_e164=phone,
            language=language,
            source="website",
            owner_id=rep.id,
            chain_id=f"chain-{language}",
        )
        db.session.add(lead)
        db.session.flush()
        leads[language] = lead.id
    db.session.commit()
    factory = CrmToolsFactory(
        app, config=BridgeConfig(port=0, metrics_port=0, **CONTENT_TIMING), metrics=BridgeMetrics()
    )
    yield rep, leads, factory
    factory.close()


def conversation(factory: CrmToolsFactory, lead_id: int, language: str, call_id: str) -> Conversation:
    callee = Callee(lead_id=lead_id, first_name="Dana", last_name="Weber", company="Krause GmbH", language=language)
    tools = factory.tools(CallContext(call_id, "retell", callee=callee, chain_id=None), speak=None, now=NOW)
    return Conversation(RulesPolicy(), tools, callee=callee)


def booked(call_id: str) -> Appointment | None:
    db.session.expire_all()
    return db.session.scalars(sa.select(Appointment).where(Appointment.idempotency_key.like(f"{call_id}:%"))).first()


async def test_saturday_morning_in_german_names_the_hours_asks_then_offers_the_nearest(crm):
    _, leads, factory = crm
    call = conversation(factory, leads["de"], "de", "call-sat")
    reply = await call.play(["Ja, am Apparat. Ich hätte gern einen Termin.", "Lieber Samstag vormittag."])
    assert "unsere Öffnungszeiten sind Montag bis Freitag von 9 bis 17 Uhr" in reply.text
    assert reply.text.endswith("Darf ich Ihnen stattdessen die nächstgelegenen freien Termine nennen?")
    assert "nichts mehr frei" not in reply.text and "belegt" not in reply.text
    assert reply.result.offered == () and not reply.result.end_call  # asked first: nothing offered yet

    reply = await call.hear("Ja, gerne.")
    # Saturday 21st 08:00 is the wish: Friday's last slot before it, Monday's first after it.
    assert reply.text == (
        "Als Alternative, da wir zu Ihrer Wunschzeit geschlossen haben, wären am Freitag, den 20. Dezember, "
        "um 16:30 Uhr oder am Montag, den 23. Dezember, um 9 Uhr frei, passt Ihnen der erste Termin?"
    )
    assert [s.start for s in reply.result.offered] == [at(date(2030, 12, 20), 16, 30), at(date(2030, 12, 23), 9)]

    reply = await call.hear("Ja, der erste passt.")
    assert reply.result.classification == "booked" and reply.result.end_call
    appt = booked("call-sat")
    assert appt is not None and appt.starts_at == at(date(2030, 12, 20), 16, 30)
    assert appt.offer_matched is False  # an alternative the caller agreed to: counted on the dashboard


async def test_after_seven_in_the_evening_in_english_names_the_hours_asks_then_offers_the_nearest(crm):
    _, leads, factory = crm
    call = conversation(factory, leads["en"], "en", "call-eve")
    reply = await call.play(["Yes, speaking. I'd like an appointment.", "After seven in the evening."])
    assert "our opening hours are Monday to Friday, 9 am to 5 pm" in reply.text
    assert reply.text.endswith("Shall I suggest the nearest free times instead?")
    assert "nothing is free" not in reply.text.lower() and reply.result.offered == ()

    reply = await call.hear("Yes please.")
    # Today (Monday) 19:00 is the wish: today's last slot, then Tuesday's first - not Tuesday 9 and 9:30.
    assert reply.text == (
        "As an alternative, since we are closed at your preferred time, I could offer Monday, December 16th, "
        "at 4:30 pm or Tuesday, December 17th, at 9 am, does the first one work for you?"
    )


async def test_saturday_morning_in_french_names_the_hours_asks_then_offers_the_nearest(crm):
    _, leads, factory = crm
    # The call speaks French as the bridge does for a lead whose language is "fr" (lead_records passes it on);
    # the stored lead row is the German one, since leads.language still only admits 'de'/'en' in the schema.
    call = conversation(factory, leads["de"], "fr", "call-sat-fr")
    reply = await call.play(["Oui, c'est moi. J'aimerais un rendez-vous.", "Plutôt samedi matin."])
    assert "nos horaires d'ouverture sont du lundi au vendredi de 9 h à 17 h" in reply.text
    assert reply.text.endswith("Voulez-vous que je vous propose plutôt les créneaux libres les plus proches?")
    assert "complet" not in reply.text and reply.result.offered == () and not reply.result.end_call

    reply = await call.hear("Oui, volontiers.")
    # Saturday 21st morning is the wish: Friday's last slot before it, Monday's first after it.
    assert reply.text == (
        "À titre d'alternative, puisque nous sommes fermés à l'heure souhaitée, je peux vous proposer le "
        "vendredi 20 décembre à 16 h 30 ou le lundi 23 décembre à 9 h, le premier vous convient-il?"
    )
    assert [s.start for s in reply.result.offered] == [at(date(2030, 12, 20), 16, 30), at(date(2030, 12, 23), 9)]

    reply = await call.hear("Oui, le premier.")
    assert reply.result.classification == "booked" and reply.result.end_call
    appt = booked("call-sat-fr")
    assert appt is not None and appt.starts_at == at(date(2030, 12, 20), 16, 30)
    assert appt.offer_matched is False


async def test_no_to_alternatives_offers_nothing_and_asks_for_another_time(crm):
    _, leads, factory = crm
    call = conversation(factory, leads["de"], "de", "call-no")
    asked = await call.play(["Ja, am Apparat. Ich hätte gern einen Termin.", "Lieber Samstag vormittag."])
    assert asked.result.offered == ()
    reply = await call.hear("Nein, danke.")
    # Alternatives turned down, not the appointment: the agent asks for another time and offers nothing.
    assert reply.text == "Welcher Tag oder welche Uhrzeit wäre Ihnen lieber?"
    assert reply.result.offered == () and not reply.result.end_call
    reply = await call.hear("Dann Freitag um 10 Uhr.")
    assert reply.text == "Ein freier Termin wäre am Freitag, den 20. Dezember, um 10 Uhr, passt Ihnen das?"
    assert booked("call-no") is None


async def test_nothing_free_is_said_only_when_the_calendar_is_full_there(crm):
    rep, leads, factory = crm
    thursday = date(2030, 12, 19)
    for hour in range(9, 17):  # Thursday fully booked, inside the hours
        for minute in (0, 30):
            start = at(thursday, hour, minute)
            db.session.add(
                Appointment(owner_id=rep.id, starts_at=start, ends_at=start + timedelta(minutes=30), title="busy")
            )
    db.session.commit()
    call = conversation(factory, leads["de"], "de", "call-full")
    reply = await call.play(["Ja, am Apparat. Ich hätte gern einen Termin.", "Am Donnerstag bitte."])
    assert reply.text.startswith("Zu Ihrer Wunschzeit ist im Kalender leider schon alles belegt.")
    assert "Öffnungszeiten" not in reply.text and reply.result.offered == ()
    reply = await call.hear("Ja, gerne.")
    assert reply.text.startswith("Als Alternative, da zu Ihrer Wunschzeit alles belegt ist, wären am Mittwoch")
    # A wish inside the hours with free time is offered plainly, as matching.
    call = conversation(factory, leads["de"], "de", "call-free")
    reply = await call.play(["Ja, am Apparat. Ich hätte gern einen Termin.", "Am Freitag um 11 Uhr."])
    assert reply.text == "Ein freier Termin wäre am Freitag, den 20. Dezember, um 11 Uhr, passt Ihnen das?"
    reply = await call.hear("Ja, passt.")
    assert reply.result.classification == "booked"
    assert booked("call-free").offer_matched is True
