"""Follow-up tasks the chain creates: a callback is due inside the lead's next calling window (never at
night, on a weekend outside the window or on a holiday), a "prepare the appointment" task before the
appointment and never in the past; the task lands with the lead's owner or the assignment rules' pick.
Pure rules, the create_task activity on both backends, and the whole chain on the Temporal dev server."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

import activities.crm_activities as crm_activities
from activities.crm_activities import CrmActivities
from crm.extensions import db
from crm.models import Appointment, AppSetting, AssignmentRule, Lead, Role, Task, User
from crm.services.compliance import DE_WINDOW, US_WINDOW, german_holidays
from crm.services.task_due import appointment_due, callback_due, callback_due_from
from tests.fakes import Script
from tests.workflows.conftest import chain  # noqa: F401  (the chain fixture: dev server, workers, relay)
from workflows.payloads import TaskInput

BERLIN, CHICAGO = ZoneInfo("Europe/Berlin"), ZoneInfo("America/Chicago")
UTC = UTC


def berlin(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BERLIN).astimezone(UTC)


HOLIDAYS = german_holidays(())


# ---------------------------------------------------------------- callback: pure


@pytest.mark.parametrize(
    "now, due",
    [
        (berlin(2026, 12, 8, 10, 0), berlin(2026, 12, 8, 11, 30)),  # Tue morning: in an hour and a half
        (berlin(2026, 12, 8, 2, 0), berlin(2026, 12, 8, 9, 30)),  # at night: when the window has opened
        (berlin(2026, 12, 8, 18, 45), berlin(2026, 12, 8, 19, 45)),  # the window closes before +30 min
        (berlin(2026, 12, 8, 19, 30), berlin(2026, 12, 9, 9, 30)),  # too late today: tomorrow morning
        (berlin(2026, 12, 4, 19, 30), berlin(2026, 12, 7, 9, 30)),  # Friday evening: Monday
        (berlin(2026, 12, 24, 19, 30), berlin(2026, 12, 28, 9, 30)),  # Christmas and the weekend in between
    ],
)
def test_callback_is_due_inside_the_next_german_calling_window(now, due):
    assert callback_due(now, "Europe/Berlin", DE_WINDOW, HOLIDAYS) == due


def test_callback_uses_the_leads_own_zone_and_window():
    now = datetime(2026, 12, 8, 5, 0, tzinfo=CHICAGO)  # 05:00 in Chicago, 12:00 in Berlin
    due = callback_due(now.astimezone(UTC), "America/Chicago", US_WINDOW)
    assert due.astimezone(CHICAGO) == datetime(2026, 12, 8, 8, 30, tzinfo=CHICAGO)


@pytest.mark.parametrize(
    "not_before, due",
    [
        (berlin(2027, 2, 23, 0, 0), berlin(2027, 2, 23, 9, 0)),  # "Ende Februar" from a Tuesday: at 09:00
        (berlin(2027, 2, 20, 23, 0), berlin(2027, 2, 22, 9, 0)),  # a Saturday: Monday when the window opens
        (berlin(2027, 1, 1, 0, 0), berlin(2027, 1, 4, 9, 0)),  # "next month": New Year and the weekend pass
        (berlin(2027, 2, 23, 15, 0), berlin(2027, 2, 23, 15, 0)),  # inside the hours: at that very moment
        (berlin(2026, 12, 8, 10, 0), berlin(2026, 12, 8, 11, 0)),  # already begun: an hour from now at least
    ],
)
def test_callback_at_a_stated_time_is_due_at_the_windows_first_calling_moment(not_before, due):
    now = berlin(2026, 12, 8, 10, 0)
    assert callback_due_from(not_before, now, "Europe/Berlin", DE_WINDOW, HOLIDAYS) == due


# ---------------------------------------------------------------- appointment: pure


def test_appointment_prepared_two_hours_before_or_at_the_start_of_the_working_day():
    now = berlin(2026, 12, 7, 15)
    assert appointment_due(berlin(2026, 12, 10, 14), now, berlin(2026, 12, 10, 9)) == berlin(2026, 12, 10, 12)
    assert appointment_due(berlin(2026, 12, 10, 9, 30), now, berlin(2026, 12, 10, 9)) == berlin(2026, 12, 10, 9)
    # An appointment before the working day starts: two hours before it (nothing later helps).
    assert appointment_due(berlin(2026, 12, 10, 8), now, berlin(2026, 12, 10, 9)) == berlin(2026, 12, 10, 6)


def test_appointment_soon_is_never_due_in_the_past():
    now = berlin(2026, 12, 7, 15)
    assert appointment_due(now + timedelta(minutes=50), now) == now + timedelta(minutes=15)
    assert appointment_due(now + timedelta(minutes=10), now) == now + timedelta(minutes=10)
    assert appointment_due(now - timedelta(minutes=10), now) == now


# ---------------------------------------------------------------- the create_task activity


FRIDAY_EVENING = berlin(2026, 12, 4, 19, 30)


@pytest.fixture
def frozen_now(monkeypatch):
    """The activity's clock (its `utcnow`) at a fixed instant, so the expected due times are exact."""
    monkeypatch.setattr(crm_activities, "utcnow", lambda: FRIDAY_EVENING)
    return FRIDAY_EVENING


def _user(name: str, role: Role = Role.SALES) -> int:
    user = User(email=f"{name.lower()}@example.test", name=name, role=role, language="de")
    db.session.add(user)
    db.session.commit()
    return user.id


def _lead(
    owner_id: int | None = None,
    phone: str = "+493023125101",
    region: str = "DE",
    zone: str = "Europe/Berlin",
    email: str = "jw@kfz-krause.de",
) -> int:
    lead = Lead(
        first_name="Jürgen",
        last_name="Weber",
        email=email,
        email_key=email,
        phone_e164=phone,
        phone_region=region,
        phone_timezone=zone,
        phone_status="valid",
        source="website",
        language="de",
        owner_id=owner_id,
        tags=[],
    )
    db.session.add(lead)
    db.session.commit()
    return lead.id


def _task(app, lead_id: int, kind: str, due_in_s: int, key: str) -> Task:
    task_id = CrmActivities(app).create_task(TaskInput(lead_id, kind, "title", due_in_s, f"chain-x:{key}"))
    db.session.expire_all()
    return db.session.get(Task, task_id)


def test_callback_task_of_an_owned_lead_is_due_monday_morning(app, ctx, frozen_now):
    rep = _user("Anna")
    lead_id = _lead(owner_id=rep)
    task = _task(app, lead_id, "callback", 24 * 3600, "callback")
    assert task.owner_id == rep
    assert task.due_at == berlin(2026, 12, 7, 9, 30)
    # The same business key again: the same task, created once.
    assert _task(app, lead_id, "callback", 24 * 3600, "callback").id == task.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Task)) == 1


def test_callback_task_at_the_callers_stated_time_is_due_at_its_start(app, ctx, frozen_now):
    """TaskInput.not_before (the chain's CallbackRequest): due when the window starts, inside the lead's own
    calling hours (a Chicago lead: 08:00 there, not 09:00 Berlin)."""
    berlin_lead, chicago_lead = (
        _lead(owner_id=_user("Anna")),
        _lead(phone="+13125550100", region="US", zone="America/Chicago", email="c@example.com"),
    )
    window = berlin(2027, 2, 20, 23, 0)  # "Ende Februar": Sunday 21 February, midnight in Berlin
    for lead_id, due in (
        (berlin_lead, berlin(2027, 2, 22, 9, 0)),
        (chicago_lead, datetime(2027, 2, 22, 8, 0, tzinfo=CHICAGO)),
    ):
        task_id = CrmActivities(app).create_task(
            TaskInput(lead_id, "callback", "title", 0, f"chain-x:{lead_id}:callback", not_before=window)
        )
        db.session.expire_all()
        assert db.session.get(Task, task_id).due_at == due.astimezone(UTC)


def test_callback_task_follows_the_admins_stored_calling_hours(app, ctx, frozen_now):
    db.session.add(
        AppSetting(
            key="calling_hours", value={"DE": {"days": "mon-sat", "start": "10:00", "end": "14:00"}}, updated_by="test"
        )
    )
    db.session.commit()
    task = _task(app, _lead(owner_id=_user("Anna")), "callback", 24 * 3600, "callback")
    assert task.due_at == berlin(2026, 12, 5, 10, 30)  # Saturday is a calling day now


def test_callback_task_of_an_unowned_lead_goes_to_the_rules_pick(app, ctx, frozen_now):
    _user("Anna")
    bernd = _user("Bernd")
    _user("Maria", Role.MANAGER)
    db.session.add(
        AssignmentRule(
            name="Website",
            position=1,
            sources=["website"],
            rep_ids=[bernd],
            languages=[],
            countries=[],
            postcode_prefixes=[],
            updated_by="test",
        )
    )
    db.session.commit()
    lead_id = _lead(owner_id=None)
    task = _task(app, lead_id, "callback", 24 * 3600, "callback")
    assert task.owner_id == bernd and db.session.get(Lead, lead_id).owner_id == bernd


def test_callback_task_without_anybody_to_assign_stays_unowned(app, ctx, frozen_now):
    _user("Maria", Role.MANAGER)
    task = _task(app, _lead(owner_id=None), "callback", 24 * 3600, "callback")
    assert task.owner_id is None and task.due_at == berlin(2026, 12, 7, 9, 30)


def test_appointment_task_is_due_before_the_appointment(app, ctx, frozen_now):
    rep = _user("Anna")
    lead_id = _lead(owner_id=rep)
    starts = berlin(2026, 12, 8, 14)
    db.session.add(
        Appointment(
            lead_id=lead_id, owner_id=rep, starts_at=starts, ends_at=starts + timedelta(minutes=30), title="Demo"
        )
    )
    db.session.commit()
    task = _task(app, lead_id, "appointment", 0, "booked")
    assert task.due_at == berlin(2026, 12, 8, 12) and task.owner_id == rep


def test_appointment_task_for_an_early_meeting_is_due_when_the_working_day_starts(app, ctx, frozen_now):
    rep = _user("Anna")
    lead_id = _lead(owner_id=rep)
    starts = berlin(2026, 12, 8, 9, 30)  # team hours start at 09:00
    db.session.add(
        Appointment(lead_id=lead_id, owner_id=rep, starts_at=starts, ends_at=starts + timedelta(hours=1), title="Demo")
    )
    db.session.commit()
    assert _task(app, lead_id, "appointment", 0, "booked").due_at == berlin(2026, 12, 8, 9)


def test_appointment_task_for_a_meeting_very_soon_is_due_before_it(app, ctx, frozen_now):
    rep = _user("Anna")
    lead_id = _lead(owner_id=rep)
    starts = FRIDAY_EVENING + timedelta(minutes=10)
    db.session.add(
        Appointment(lead_id=lead_id, owner_id=rep, starts_at=starts, ends_at=starts + timedelta(hours=1), title="Demo")
    )
    db.session.commit()
    assert _task(app, lead_id, "appointment", 0, "booked").due_at == starts
    other = _lead(owner_id=rep, phone="+493023125102", email="other@kfz-krause.de")
    # No appointment on record: soon, not at once.
    assert _task(app, other, "appointment", 0, "booked-2").due_at == FRIDAY_EVENING + timedelta(minutes=15)


# ---------------------------------------------------------------- the whole chain


def _window_around_now() -> tuple[str, str, datetime, datetime]:
    """(phone, region, window start, window end) with a calling window that is open now and closes in 40
    minutes, in a zone where that window does not cross midnight."""
    now = datetime.now(UTC)
    for phone, region, zone in (("+49 30 23125108", "DE", BERLIN), ("+1 312 555 0148", "US", CHICAGO)):
        local = now.astimezone(zone)
        if time(1, 30) <= local.time() <= time(22, 30):
            start = (local - timedelta(minutes=60)).replace(second=0, microsecond=0)
            end = (local + timedelta(minutes=40)).replace(second=0, microsecond=0)
            return phone, region, start, end
    raise AssertionError("unreachable: Berlin and Chicago are 7 hours apart")


async def test_chain_callback_task_is_owned_by_a_rep_and_due_in_the_next_calling_window(chain):  # noqa: F811
    phone, region, start, end = _window_around_now()

    def setup():
        anna = User(email="anna@example.test", name="Anna", role=Role.SALES, language="de")
        db.session.add(anna)
        db.session.add(
            AppSetting(
                key="calling_hours",
                updated_by="test",
                value={region: {"days": "mon-sun", "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}},
            )
        )
        db.session.commit()
        return anna.id

    anna = chain.db(setup)
    e164 = "+493023125108" if region == "DE" else "+13125550148"
    chain.provider.scripts[e164] = Script([("completed", "callback_requested")])
    accepted = chain.post_lead(
        {
            "first_name": "Jürgen",
            "last_name": "Weber",
            "company": "Kfz-Werkstatt Krause GmbH",
            "email": "juergen.weber@kfz-krause.de",
            "phone": phone,
            "phone_consent": "ja",
            "interest": "Angebot für 5 Standorte",
        }
    )
    outcome = await chain.outcome(accepted["chain_id"])
    assert outcome.stage == "handed_over"
    task = chain.db(lambda: db.session.scalars(sa.select(Task)).one())
    lead = chain.db(lambda: db.session.get(Lead, outcome.lead_id))
    assert task.kind == "callback" and task.owner_id == anna and lead.owner_id == anna
    # The window closes within the hour the rep needs: the callback is due tomorrow, 30 min after it opens.
    tomorrow: date = start.date() + timedelta(days=1)
    expected = datetime.combine(tomorrow, start.time(), start.tzinfo) + timedelta(minutes=30)
    assert task.due_at == expected.astimezone(UTC)
