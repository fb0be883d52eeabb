"""The bridge's CRM tools on SQLite and PostgreSQL: lead lookup, free slots, booking once, qualification,
opt-out, and a booked call staying booked through the post-call webhook."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import (
    Appointment,
    AppointmentStatus,
    AuditEntry,
    Channel,
    ConsentRecord,
    Direction,
    DoNotCallEntry,
    Interaction,
    InteractionKind,
    Lead,
    LeadStatus,
    LegalBasis,
    Role,
    User,
)
from crm.services import calls
from providers.events import CallEvent
from voice.bridge import booking
from voice.bridge.timeprefs.constraint import TimeConstraint, TimeWindow

BERLIN = ZoneInfo("Europe/Berlin")
# Monday 16 December 2030, 08:00 in Berlin: Christmas Day (Wed 25th) and Boxing Day are holidays.
NOW = datetime(2030, 12, 16, 8, 0, tzinfo=BERLIN)
THU = date(2030, 12, 19)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=BERLIN)


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def add_rep(
    name: str, *, hours: dict | None = None, tz: str = "Europe/Berlin", role: Role = Role.SALES, active: bool = True
) -> User:
    user = User(
        email=f"{name.lower()}@leadchain.example", name=name, role=role, timezone=tz, working_hours=hours, active=active
    )
    db.session.add(user)
    db.session.flush()
    return user


def add_lead(owner: User | None = None, *, language: str = "de", phone: str = "+493023125101", **extra) -> Lead:
    lead = Lead(
        first_name="Jürgen",
        last_name="Weber",
        company="Kfz-Werkstatt Krause GmbH",
        email="juergen.weber@kfz-krause.de",
        phone_e164=phone,
        language=language,
        source="website",
        owner_id=owner.id if owner else None,
        chain_id="chain-abc",
        **extra,
    )
    db.session.add(lead)
    db.session.flush()
    return lead


def add_appointment(
    owner: User,
    start: datetime,
    minutes: int = 30,
    lead: Lead | None = None,
    status: AppointmentStatus = AppointmentStatus.CONFIRMED,
) -> Appointment:
    appt = Appointment(
        owner_id=owner.id,
        lead_id=lead.id if lead else None,
        starts_at=utc(start),
        ends_at=utc(start + timedelta(minutes=minutes)),
        status=status,
        title="busy",
    )
    db.session.add(appt)
    db.session.flush()
    return appt


def add_call(lead: Lead, call_id: str, provider: str = "retell") -> Interaction:
    call = Interaction(
        lead_id=lead.id,
        kind=InteractionKind.CALL,
        direction=Direction.OUTBOUND,
        provider=provider,
        provider_ref=call_id,
        status="in_progress",
        created_by="chain",
        data={"stage": "in_progress", "chain_id": "chain-from-call"},
    )
    db.session.add(call)
    db.session.flush()
    return call


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


# ---- lead lookup ------------------------------------------------------------------------------------


def test_lead_for_call_by_interaction_then_metadata_and_merged(ctx):
    anna = add_rep("Anna", hours={"mon": [["10:00", "14:00"]]}, tz="Europe/Vienna")
    lead = add_lead(anna)
    add_call(lead, "call_1")
    other = add_lead(None, phone="+493023125102", language="en")
    db.session.commit()

    facts = booking.lead_for_call("call_1", "retell", {"lead_id": other.id})
    assert facts.lead_id == lead.id and facts.owner_id == anna.id and facts.owner_name == "Anna"
    assert facts.first_name == "Jürgen" and facts.company == "Kfz-Werkstatt Krause GmbH" and facts.language == "de"
    assert facts.working_hours == {"mon": [["10:00", "14:00"]]} and facts.timezone == "Europe/Vienna"
    assert facts.chain_id == "chain-abc" and facts.interaction_id is not None and not facts.do_not_contact
    assert facts.callee().owner_name == "Anna"
    # Another provider's call id is not this call: the metadata we set when placing it decides.
    by_meta = booking.lead_for_call("call_1", "vapi", {"lead_id": str(other.id), "chain_id": "c2"})
    assert by_meta.lead_id == other.id and by_meta.owner_id is None and by_meta.timezone == "Europe/Berlin"
    assert by_meta.language == "en" and by_meta.interaction_id is None
    assert booking.lead_for_call("nope", "retell", None) is None
    assert booking.lead_for_call("nope", "retell", {"lead_id": "x"}) is None
    assert booking.lead_for_call("nope", "retell", {"lead_id": 999999}) is None

    # A merged lead resolves to the surviving record.
    other.merged_into_id = lead.id
    other.status = LeadStatus.MERGED
    db.session.commit()
    assert booking.lead_for_call("call_9", "vapi", {"lead_id": other.id}).lead_id == lead.id


# ---- free slots ---------------------------------------------------------------------------------------


def test_exact_wish_free_and_taken_gives_two_alternatives(ctx):
    anna = add_rep("Anna")
    lead = add_lead(anna)
    db.session.commit()
    wish = TimeConstraint(dates=(THU,), exact=time(14, 30))

    offer = booking.find_slots(lead.id, wish, NOW)
    assert offer.wish_free and offer.alternatives == () and offer.owner_id == anna.id
    assert offer.wished.start == utc(at(THU, 14, 30)) and offer.wished.end == utc(at(THU, 15))
    assert offer.wished.owner_id == anna.id and offer.wished.start.tzinfo is not None

    add_appointment(anna, at(THU, 14), minutes=60)
    db.session.commit()
    offer = booking.find_slots(lead.id, wish, NOW)
    assert not offer.wish_free and offer.wished is None and len(offer.alternatives) == 2
    for slot in offer.alternatives:
        assert slot.owner_id == anna.id
        assert slot.end - slot.start == timedelta(minutes=30)
        assert not (slot.start < utc(at(THU, 15)) and utc(at(THU, 14)) < slot.end), "overlaps the busy hour"
        local = slot.start.astimezone(BERLIN)
        assert time(9) <= local.time() and (local + timedelta(minutes=30)).time() <= time(17)
    assert len({s.start for s in offer.alternatives}) == 2

    # alternatives=3, a longer meeting.
    offer = booking.find_slots(lead.id, wish, NOW, duration=timedelta(minutes=60), alternatives=3)
    assert len(offer.alternatives) == 3 and all(s.end - s.start == timedelta(hours=1) for s in offer.alternatives)


def test_without_exact_time_the_earliest_matching_slot(ctx):
    anna = add_rep("Anna")
    lead = add_lead(anna)
    add_appointment(anna, at(THU, 16))
    db.session.commit()
    afternoon = TimeConstraint(dates=(THU,), windows=(TimeWindow(time(16), None),))
    offer = booking.find_slots(lead.id, afternoon, NOW)
    assert offer.wish_free and offer.wished.start == utc(at(THU, 16, 30))


def test_working_hours_of_the_owner_and_their_zone(ctx):
    # Mornings only, in London: 09:00-12:00 London is 10:00-13:00 Berlin.
    bob = add_rep(
        "Bob", hours={d: [["09:00", "12:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}, tz="Europe/London"
    )
    lead = add_lead(bob)
    db.session.commit()
    offer = booking.find_slots(lead.id, TimeConstraint(dates=(THU,), exact=time(14, 30)), NOW)
    assert not offer.wish_free and len(offer.alternatives) == 2
    for slot in offer.alternatives:
        local = slot.start.astimezone(ZoneInfo("Europe/London"))
        assert time(9) <= local.time() and (local + timedelta(minutes=30)).time() <= time(12)
    morning = booking.find_slots(lead.id, TimeConstraint(dates=(THU,), exact=time(10, 0)), NOW)
    assert morning.wish_free and morning.wished.start == utc(at(THU, 10))
    early = booking.find_slots(lead.id, TimeConstraint(dates=(THU,), exact=time(9, 30)), NOW)
    assert not early.wish_free  # 08:30 in London


def test_holidays_are_closed(ctx):
    anna = add_rep("Anna")
    lead = add_lead(anna)
    db.session.commit()
    christmas = date(2030, 12, 25)
    offer = booking.find_slots(lead.id, TimeConstraint(dates=(christmas,), exact=time(10)), NOW)
    assert not offer.wish_free and offer.alternatives
    for slot in offer.alternatives:
        assert slot.start.astimezone(BERLIN).date() not in (christmas, date(2030, 12, 26))
    assert not booking.book(lead.id, "call_x", at(christmas, 10), at(christmas, 10, 30), now=NOW).ok


def test_a_wish_outside_the_hours_says_so_and_gets_the_nearest_free_slots(ctx):
    anna = add_rep("Anna")
    lead = add_lead(anna)
    add_appointment(anna, at(THU, 16, 30))  # Thursday's last slot is taken
    db.session.commit()
    saturday_morning = TimeConstraint(dates=(date(2030, 12, 21),), windows=(TimeWindow(time(8), time(12)),))
    offer = booking.find_slots(lead.id, saturday_morning, NOW)
    assert offer.wished is None and offer.no_match_reason == "outside_hours"
    assert offer.opening_hours == tuple((d, time(9), time(17)) for d in range(5))
    # Nearest to Saturday 08:00: Friday's last slot before it, Monday's first after it (not Friday 9:00).
    assert [s.start for s in offer.alternatives] == [
        utc(at(date(2030, 12, 20), 16, 30)),
        utc(at(date(2030, 12, 23), 9)),
    ]
    assert [s.matches for s in offer.alternatives] == [False, False]
    # "After seven in the evening" on Thursday: Thursday 16:00 (16:30 is booked), then Friday 9:00.
    evening = TimeConstraint(dates=(THU,), windows=(TimeWindow(time(19), None),))
    offer = booking.find_slots(lead.id, evening, NOW)
    assert offer.no_match_reason == "outside_hours"
    assert [s.start for s in offer.alternatives] == [utc(at(THU, 16)), utc(at(date(2030, 12, 20), 9))]


def test_full_is_said_only_when_bookings_fill_the_wish(ctx):
    anna = add_rep("Anna")
    bob = add_rep("Bob", hours={"mon": [["09:00", "12:00"]], "thu": [["09:00", "12:00"]]}, tz="Europe/London")
    lead, bobs = add_lead(anna), add_lead(bob, phone="+493023125109")
    add_appointment(anna, at(THU, 14), minutes=60)
    db.session.commit()
    taken = booking.find_slots(lead.id, TimeConstraint(dates=(THU,), exact=time(14, 30)), NOW)
    assert taken.no_match_reason == "full" and not any(s.matches for s in taken.alternatives)
    free = booking.find_slots(lead.id, TimeConstraint(dates=(THU,), exact=time(15)), NOW)
    assert free.wish_free and free.wished.matches and free.no_match_reason == ""
    # Bob works 9-12 in London = 10-13 in Berlin: 9:30 Berlin is outside his hours, not "full".
    early = booking.find_slots(bobs.id, TimeConstraint(dates=(THU,), exact=time(9, 30)), NOW)
    assert early.no_match_reason == "outside_hours"
    assert early.opening_hours == ((0, time(10), time(13)), (3, time(10), time(13)))
    # Too soon (inside the hours, before the hour's notice): neither full nor closed.
    soon = booking.find_slots(lead.id, TimeConstraint(dates=(date(2030, 12, 16),), exact=time(8, 30)), NOW)
    assert soon.no_match_reason == "outside_hours"  # 8:30 is before Anna's 9:00
    soon = booking.find_slots(
        lead.id, TimeConstraint(dates=(date(2030, 12, 16),), exact=time(9)), at(THU, 9) - timedelta(days=3)
    )
    assert soon.no_match_reason == "unavailable"


def test_team_without_owner_picks_a_free_rep_and_books_with_them(ctx):
    anna, bob = add_rep("Anna"), add_rep("Bob")
    add_rep("Max", role=Role.MANAGER)
    add_rep("Ina", active=False)
    lead = add_lead(None)
    add_appointment(anna, at(THU, 14, 30))
    db.session.commit()
    wish = TimeConstraint(dates=(THU,), exact=time(14, 30))
    offer = booking.find_slots(lead.id, wish, NOW)
    assert offer.wish_free and offer.owner_id is None and offer.wished.owner_id == bob.id

    add_appointment(bob, at(THU, 14, 30))
    db.session.commit()
    offer = booking.find_slots(lead.id, wish, NOW)
    assert not offer.wish_free and len(offer.alternatives) == 2
    assert {s.owner_id for s in offer.alternatives} <= {anna.id, bob.id}

    # Booking without a rep: the first who is free at that time gets it and becomes the owner.
    result = booking.book(lead.id, "call_t", at(THU, 15), at(THU, 15, 30), now=NOW)
    assert result.status == "booked" and result.owner_id in (anna.id, bob.id)
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).owner_id == result.owner_id
    appt = db.session.get(Appointment, result.appointment_id)
    assert appt.title.startswith("Beratungsgespräch") and appt.location.startswith("Telefonat")
    other = ({anna.id, bob.id} - {result.owner_id}).pop()
    second_lead, third_lead = add_lead(None, phone="+493023125109").id, add_lead(None, phone="+493023125108").id
    db.session.commit()
    second = booking.book(second_lead, "call_u", at(THU, 15), at(THU, 15, 30), now=NOW)
    assert second.status == "booked" and second.owner_id == other
    third = booking.book(third_lead, "call_v", at(THU, 15), at(THU, 15, 30), now=NOW)
    assert third.status == "taken" and third.appointment_id is None


# ---- booking ------------------------------------------------------------------------------------------


def test_book_once_per_call_and_slot(ctx):
    anna = add_rep("Anna")
    lead = add_lead(anna, language="en")
    call = add_call(lead, "call_1")
    db.session.commit()
    start = at(THU, 14, 30)

    first = booking.book(lead.id, "call_1", start, start + timedelta(minutes=30), now=NOW)
    assert first.status == "booked" and first.ok and first.owner_id == anna.id and first.chain_id == "chain-abc"
    assert first.start == utc(start) and first.as_booking().status == "booked"
    assert first.call_booking().call_id == "call_1" and first.call_booking().appointment_id == first.appointment_id
    # The replayed turn (a reconnect; the same instant in another zone) books nothing new.
    again = booking.book(lead.id, "call_1", utc(start), utc(start) + timedelta(minutes=30), now=NOW)
    assert again.status == "already_booked" and again.appointment_id == first.appointment_id
    assert count(Appointment) == 1

    db.session.expire_all()
    appt = db.session.get(Appointment, first.appointment_id)
    assert appt.idempotency_key == f"call_1:{utc(start).isoformat()}" == booking.booking_key("call_1", start)
    assert appt.starts_at == utc(start) and appt.status == AppointmentStatus.CONFIRMED
    assert appt.title.startswith("Consultation with") and "Anna" in appt.title and appt.location
    assert db.session.get(Lead, lead.id).status == LeadStatus.BOOKED
    actions = set(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.actor == "voice-bridge:call_1")))
    assert {"appointment.booked", "lead.booked"} <= actions
    call = db.session.get(Interaction, call.id)
    assert call.outcome == "booked" and call.data["appointment_id"] == appt.id


def test_book_records_whether_the_slot_matched_the_wish(ctx):
    anna = add_rep("Anna")
    lead = add_lead(anna)
    add_call(lead, "call_m")
    db.session.commit()
    matched = booking.book(lead.id, "call_m", at(THU, 10), at(THU, 10, 30), offer_matched=True, now=NOW)
    other = booking.book(lead.id, "call_m", at(THU, 11), at(THU, 11, 30), offer_matched=False, now=NOW)
    unknown = booking.book(lead.id, "call_m", at(THU, 12), at(THU, 12, 30), now=NOW)
    assert (matched.offer_matched, other.offer_matched, unknown.offer_matched) == (True, False, None)
    db.session.expire_all()
    stored = {a.starts_at: a.offer_matched for a in db.session.scalars(sa.select(Appointment))}
    assert stored == {utc(at(THU, 10)): True, utc(at(THU, 11)): False, utc(at(THU, 12)): None}
    audit = db.session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == "appointment.booked", AuditEntry.entity_id == other.appointment_id
        )
    ).one()
    assert audit.after["offer_matched"] is False
    call = db.session.scalars(sa.select(Interaction).where(Interaction.provider_ref == "call_m")).one()
    assert [b["offer_matched"] for b in call.data["bookings"]] == [True, False, None]


def test_taken_when_another_booking_won_then_fresh_alternatives(ctx):
    anna = add_rep("Anna")
    lead, rival = add_lead(anna), add_lead(anna, phone="+493023125102")
    db.session.commit()
    start = at(THU, 14, 30)
    assert (
        booking.book(
            rival.id, "call_rival", start - timedelta(minutes=15), start + timedelta(minutes=15), now=NOW
        ).status
        == "booked"
    )
    taken = booking.book(lead.id, "call_1", start, start + timedelta(minutes=30), now=NOW)
    assert taken.status == "taken" and taken.appointment_id is None and not taken.ok
    assert count(Appointment) == 1 and count(Appointment, Appointment.lead_id == lead.id) == 0
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).status != LeadStatus.BOOKED
    offer = booking.find_slots(lead.id, TimeConstraint(dates=(THU,), exact=time(14, 30)), NOW)
    assert not offer.wish_free and len(offer.alternatives) == 2
    slot = offer.alternatives[0]
    assert booking.book(lead.id, "call_1", slot.start, slot.end, slot.owner_id, now=NOW).status == "booked"
    # A cancelled appointment frees its slot.
    cancelled = add_appointment(anna, at(THU, 11), status=AppointmentStatus.CANCELLED)
    db.session.commit()
    assert booking.book(rival.id, "call_r2", at(THU, 11), at(THU, 11, 30), now=NOW).status == "booked"
    assert cancelled.id


def test_book_refuses_what_is_not_bookable(ctx):
    anna = add_rep("Anna")
    lead = add_lead(anna)
    db.session.commit()
    assert booking.book(lead.id, "c", at(THU, 18), at(THU, 18, 30), now=NOW).status == "taken"  # after hours
    assert (
        booking.book(lead.id, "c", at(date(2030, 12, 21), 10), at(date(2030, 12, 21), 10, 30), now=NOW).status
        == "taken"
    )  # Saturday
    past = booking.book(lead.id, "c", at(THU, 10), at(THU, 10, 30), now=at(THU, 12))
    assert past.status == "failed" and past.reason == "in the past"
    assert booking.book(lead.id, "c", at(THU, 10), at(THU, 10), now=NOW).status == "failed"
    assert booking.book(999999, "c", at(THU, 10), at(THU, 10, 30), now=NOW).reason == "unknown lead"
    with pytest.raises(ValueError):
        booking.book(lead.id, "c", datetime(2030, 12, 19, 10), datetime(2030, 12, 19, 10, 30), now=NOW)
    booking.record_opt_out(lead.id, "c", "no more calls")
    refused = booking.book(lead.id, "c", at(THU, 10), at(THU, 10, 30), now=NOW)
    assert refused.status == "failed" and refused.reason == "do not contact"
    assert count(Appointment) == 0


def test_a_booked_call_stays_booked_through_the_webhook(ctx):
    anna = add_rep("Anna")
    lead = add_lead(anna)
    add_call(lead, "call_w")
    db.session.commit()
    assert booking.book(lead.id, "call_w", at(THU, 10), at(THU, 10, 30), now=NOW).status == "booked"
    event = CallEvent(
        provider="retell",
        call_id="call_w",
        event_id="evt-1",
        event_type="call_analyzed",
        stage="analyzed",
        answered=True,
        end_status="completed",
        classification="interested",
        final=True,
    )
    call = calls.apply_event(event)
    db.session.commit()
    assert call.outcome == "booked"
    assert calls.result_for(call).classification == "booked"
    # Without the id in the call's data (a call record made after the booking), the key still tells.
    call.data = {k: v for k, v in call.data.items() if k not in ("appointment_id", "bookings")}
    call.outcome = "interested"
    db.session.commit()
    assert calls.has_booking(call)
    other = add_call(lead, "call_w2")
    db.session.commit()
    assert not calls.has_booking(other)


# ---- qualification and opt-out ---------------------------------------------------------------------


def test_record_qualification_merges_and_audits(ctx):
    lead = add_lead(None)
    lead.qualification = {"need": "5 Standorte", "budget": "offen"}
    db.session.commit()
    result = booking.record_qualification(
        lead.id, "call_q", {"timing": "Q1", "decision_maker": True, "need": "  ", "shoe_size": "44"}
    )
    assert result.changed
    db.session.expire_all()
    q = db.session.get(Lead, lead.id).qualification
    assert q["need"] == "5 Standorte" and q["budget"] == "offen" and q["timing"] == "Q1"
    assert q["decision_maker"] == "yes" and q["call_id"] == "call_q" and "shoe_size" not in q
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "lead.qualification")).one()
    assert entry.actor == "voice-bridge:call_q" and entry.after["qualification"]["timing"] == "Q1"
    # Same answers again: nothing written.
    assert not booking.record_qualification(lead.id, "call_q", {"timing": "Q1"}).changed
    assert count(AuditEntry, AuditEntry.action == "lead.qualification") == 1
    assert booking.record_qualification(999999, "call_q", {"need": "x"}).lead_id is None


def test_record_opt_out_is_immediate_everywhere_and_idempotent(ctx):
    lead = add_lead(None)
    db.session.add(
        ConsentRecord(
            lead_id=lead.id,
            channel=Channel.PHONE,
            legal_basis=LegalBasis.EXPRESS_CONSENT,
            source="web form",
            proof_text="ja",
            proof_key="form-1",
            given_at=datetime(2030, 12, 1, tzinfo=UTC),
        )
    )
    db.session.commit()
    first = booking.record_opt_out(lead.id, "call_o", "asked not to be called again")
    assert first.newly_marked
    db.session.expire_all()
    fresh = db.session.get(Lead, lead.id)
    assert fresh.do_not_contact and fresh.status == LeadStatus.DO_NOT_CONTACT
    assert fresh.dnc_reason == "asked not to be called again"
    assert count(ConsentRecord, ConsentRecord.lead_id == lead.id, ConsentRecord.withdrawn_at.is_(None)) == 0
    assert count(DoNotCallEntry, DoNotCallEntry.phone_e164 == "+493023125101") == 1
    assert not booking.record_opt_out(lead.id, "call_o", "again").newly_marked
    assert count(DoNotCallEntry) == 1
    assert count(AuditEntry, AuditEntry.action == "lead.do_not_contact", AuditEntry.actor == "voice-bridge:call_o") == 1
