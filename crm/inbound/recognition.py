"""Who is calling: the caller's number normalised to E.164 and matched to a live lead of the company the
number belongs to, and what the agent should know about them (CallerContext).

Runs in the number's company scope (bound by the webhook after its signature verified). The match uses the
lead's one number (Lead.phone_e164; the model keeps no secondary numbers) through the index
uq_leads_phone_live (company_id, phone_e164): one indexed row however many leads the company has.

An objection to calls (the lead's do-not-contact flag or the company's do-not-call list) only informs the
agent: someone who calls in is always served (issue 17 item 2)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from crm.extensions import db
from crm.inbound.numbers import NumberRoute, e164_of
from crm.models import Appointment, AppointmentStatus, DoNotCallEntry, Interaction, Lead, LeadStatus, User
from crm.services.business_calendar import (
    BUSINESS_TZ,
    DEFAULT_CLOSED_EVERY_YEAR,
    WEEKDAY_KEYS,
    BusinessCalendar,
    parse_hours,
)
from crm.services.compliance import is_on_dnc_list
from crm.tenancy.context import require_company_id

RECENT_SUMMARIES = 3
UPCOMING_APPOINTMENTS = 5
# What carriers and providers put in the caller id when the number is withheld (Twilio: +266696687).
WITHHELD_MARKERS = {"", "anonymous", "restricted", "private", "unknown", "unavailable", "+266696687", "266696687"}


class CallerStatus(str, enum.Enum):
    KNOWN = "known"
    UNKNOWN = "unknown"
    WITHHELD = "withheld"


@dataclass(frozen=True)
class UpcomingAppointment:
    appointment_id: int
    starts_at: datetime
    ends_at: datetime
    title: str
    location: str | None


@dataclass
class CallerContext:
    """What the agent (and later the voice bridge's inbound dialog) knows when it answers. Personal data: it
    goes to the answering provider and nowhere else (no log, no Temporal payload)."""

    status: CallerStatus
    company_id: int
    number_id: int
    company_name: str
    greeting_name: str
    language: str
    within_business_hours: bool
    transfer_target: str | None
    timezone: str = BUSINESS_TZ
    caller_e164: str | None = None
    lead_id: int | None = None
    name: str | None = None
    caller_company: str | None = None
    owner_name: str | None = None
    upcoming_appointments: list[UpcomingAppointment] = field(default_factory=list)
    recent_summaries: list[str] = field(default_factory=list)
    objected_to_calls: bool = False
    # Set by crm.inbound.unknown when this call created the lead.
    new_lead: bool = False

    def variables(self) -> dict[str, str]:
        """The agent's variables: Retell's `dynamic_variables` (Dict[str, str]) and Vapi's `variableValues`.
        Strings only (Retell types them so); empty strings rather than missing keys, so every `{{name}}` in a
        prompt resolves."""
        zone = company_zone(self.timezone)
        appointments = "; ".join(
            f"{a.starts_at.astimezone(zone):%Y-%m-%d %H:%M} {a.title}".strip() for a in self.upcoming_appointments
        )
        return {
            "caller_status": self.status.value,
            "caller_name": self.name or "",
            "caller_company": self.caller_company or "",
            "caller_number": self.caller_e164 or "",
            "language": self.language,
            "company_name": self.company_name,
            "greeting_name": self.greeting_name,
            "owner_name": self.owner_name or "",
            "upcoming_appointments": appointments,
            "last_interactions": " | ".join(self.recent_summaries),
            "objected_to_calls": "true" if self.objected_to_calls else "false",
            "within_business_hours": "true" if self.within_business_hours else "false",
            "transfer_available": "true" if self.transfer_target else "false",
            "caller_hint": _hint(self.status),
        }

    def metadata(self) -> dict[str, str]:
        """Ids only (no personal data): the provider echoes them on the call's later events, whose routing
        reads `lead_id` (crm.tenancy.routing.provider_hints)."""
        found = {"direction": "inbound", "inbound_number": str(self.number_id), "caller_status": self.status.value}
        if self.lead_id is not None:
            found["lead_id"] = str(self.lead_id)
        return found


def _hint(status: CallerStatus) -> str:
    if status is CallerStatus.WITHHELD:
        return "The caller's number is withheld: politely ask for their name and, if they want a callback, a number."
    if status is CallerStatus.UNKNOWN:
        return "A new caller: ask for their name and what they need."
    return ""


def caller_number(raw: object) -> str | None:
    """The caller's E.164 number, or None when it is withheld or unusable as a number."""
    if not isinstance(raw, str) or raw.strip().lower() in WITHHELD_MARKERS:
        return None
    return e164_of(raw)


def company_zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or BUSINESS_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(BUSINESS_TZ)


def within_hours(number: NumberRoute, now: datetime) -> bool:
    """Whether `now` lies in the number's business hours (the company's zone); a holiday (the company's state's,
    and 24.12/31.12) counts as closed unless the number's holiday behaviour is "open"."""
    try:
        calendar = BusinessCalendar(tz=number.company_timezone or BUSINESS_TZ, subdiv=number.company_state)
        hours = parse_hours(number.business_hours)
    except ValueError:
        return False
    local = now.astimezone(calendar.zone)
    day = local.date()
    if number.holiday_behaviour == "closed" and (
        calendar.is_holiday(day) or (day.month, day.day) in DEFAULT_CLOSED_EVERY_YEAR
    ):
        return False
    return any(a <= local.time() < b for a, b in hours.get(WEEKDAY_KEYS[day.weekday()], ()))


def base_context(number: NumberRoute, status: CallerStatus, caller_e164: str | None, now: datetime) -> CallerContext:
    return CallerContext(
        status=status,
        company_id=number.company_id,
        number_id=number.number_id,
        company_name=number.company_name,
        greeting_name=number.greeting_name or number.company_name,
        language=number.language,
        within_business_hours=within_hours(number, now),
        transfer_target=number.transfer_e164,
        timezone=number.company_timezone or BUSINESS_TZ,
        caller_e164=caller_e164,
    )


@dataclass(frozen=True)
class CallerLead:
    """The lead's columns the answer reads: what find_lead selects instead of a whole Lead object (the caller
    is ringing: no identity map entry, no object built from forty columns). unknown.register passes its Lead."""

    id: int
    first_name: str | None
    last_name: str | None
    company: str | None
    language: str | None
    owner_id: int | None
    do_not_contact: bool
    status: LeadStatus
    phone_e164: str | None


_CALLER_COLUMNS = tuple(getattr(Lead, name) for name in CallerLead.__dataclass_fields__)


@dataclass(frozen=True)
class FoundLead:
    lead: CallerLead
    owner_name: str | None
    on_dnc_list: bool


# The answer's statements, built once per process with their values as bound parameters: building the
# expressions anew took about 900 of a request's 7,400 Python calls (cProfile of bench/inbound.py's request).
# They run as Core statements on the session's connection, not through the ORM: the ORM's execution (its
# criteria option, cache key and result building) cost about 0.35 ms of CPU per statement, 0.26 ms left
# (same statement, explicit company; in-process, PostgreSQL), while the caller rings. So the ORM's company
# criteria (crm.tenancy.orm) do not reach them, and every table each one reads is filtered by the company
# here, owner and do-not-call list included; on PostgreSQL row-level security holds as well.
_COMPANY = sa.bindparam("company", type_=sa.Integer)
_FIND_LEAD = (
    sa.select(
        *_CALLER_COLUMNS,
        User.name,
        sa.select(DoNotCallEntry.id)
        .where(DoNotCallEntry.company_id == _COMPANY, DoNotCallEntry.phone_e164 == sa.bindparam("phone"))
        .exists(),
    )
    .outerjoin(User, sa.and_(User.id == Lead.owner_id, User.company_id == _COMPANY))
    .where(Lead.company_id == _COMPANY, Lead.phone_e164 == sa.bindparam("phone"), Lead.merged_into_id.is_(None))
)
_UPCOMING = (
    sa.select(
        sa.literal(0).label("part"),
        Appointment.id.label("id"),
        Appointment.starts_at.label("starts_at"),
        Appointment.ends_at.label("ends_at"),
        Appointment.title.label("title"),
        Appointment.location.label("location"),
        sa.cast(sa.null(), Interaction.summary.type).label("summary"),
    )
    .where(
        Appointment.company_id == _COMPANY,
        Appointment.lead_id == sa.bindparam("lead_id"),
        Appointment.status != AppointmentStatus.CANCELLED,
        Appointment.ends_at > sa.bindparam("now", type_=Appointment.ends_at.type),
    )
    .order_by(Appointment.starts_at)
    .limit(UPCOMING_APPOINTMENTS)
    .subquery("upcoming")
)
_SUMMARIES = (
    sa.select(
        sa.literal(1).label("part"),
        Interaction.id.label("id"),
        # The summaries' order (newest first) rides in the time columns: created_at where the appointments'
        # legs carry starts_at.
        Interaction.created_at.label("starts_at"),
        sa.cast(sa.null(), Appointment.ends_at.type).label("ends_at"),
        sa.cast(sa.null(), Appointment.title.type).label("title"),
        sa.cast(sa.null(), Appointment.location.type).label("location"),
        Interaction.summary.label("summary"),
    )
    .where(
        Interaction.company_id == _COMPANY,
        Interaction.lead_id == sa.bindparam("lead_id"),
        Interaction.summary.is_not(None),
        Interaction.summary != "",
    )
    .order_by(Interaction.created_at.desc(), Interaction.id.desc())
    .limit(RECENT_SUMMARIES)
    .subquery("summaries")
)
# The lead's upcoming appointments and its last summaries in one round trip (the caller is ringing), the
# company in both legs (tests/inbound/test_recognition_statement.py).
_CONTEXT = sa.union_all(sa.select(_UPCOMING), sa.select(_SUMMARIES))


def _run(statement: sa.Executable, params: dict[str, object]) -> sa.CursorResult[*tuple[Any, ...]]:
    """`statement` on the session's connection (its transaction), with the current company bound: raises
    NoCompanyScope outside a company's scope, as the ORM's criteria would."""
    return db.session.connection().execute(statement, {**params, "company": require_company_id()})


def find_lead(caller_e164: str) -> FoundLead | None:
    """The company's live lead with this number (the current scope's company), its owner's name and whether
    the number is on the company's do-not-call list: one round trip, the needed columns only."""
    row = _run(_FIND_LEAD, {"phone": caller_e164}).first()
    if row is None:
        return None
    return FoundLead(CallerLead(*row[: len(_CALLER_COLUMNS)]), row[-2], bool(row[-1]))


def fill_from_lead(
    context: CallerContext,
    lead: CallerLead | Lead,
    owner_name: str | None,
    number: NumberRoute,
    now: datetime,
    on_dnc_list: bool | None = None,
) -> CallerContext:
    context.status = CallerStatus.KNOWN
    context.lead_id = lead.id
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p)
    context.name = name or None
    context.caller_company = lead.company
    context.language = lead.language or context.language
    if owner_name is None and lead.owner_id is None and number.default_owner_id is not None:
        owner_name = db.session.scalar(sa.select(User.name).where(User.id == number.default_owner_id))
    context.owner_name = owner_name
    # The lead's own flag, or the company's do-not-call list (read with the lead where the caller did).
    listed = is_on_dnc_list(lead.phone_e164) if on_dnc_list is None else on_dnc_list
    context.objected_to_calls = lead.do_not_contact or lead.status == LeadStatus.DO_NOT_CONTACT or listed
    rows = _run(_CONTEXT, {"lead_id": lead.id, "now": now}).all()
    # A union has no order of its own: each leg's order is restored here (the time columns are UTCDateTime,
    # aware on both databases).
    upcoming = sorted((r for r in rows if r.part == 0), key=lambda r: r.starts_at)
    context.upcoming_appointments = [
        UpcomingAppointment(r.id, r.starts_at, r.ends_at, r.title, r.location) for r in upcoming
    ]
    summaries = sorted((r for r in rows if r.part == 1), key=lambda r: (r.starts_at, r.id), reverse=True)
    context.recent_summaries = [r.summary for r in summaries]
    return context


def recognise(number: NumberRoute, caller_raw: object, now: datetime | None = None) -> CallerContext:
    """The caller of a call to `number` (in its company's scope): known (a live lead has the number),
    unknown (a usable number nobody has yet) or withheld."""
    now = now or datetime.now(UTC)
    caller_e164 = caller_number(caller_raw)
    if caller_e164 is None:
        return base_context(number, CallerStatus.WITHHELD, None, now)
    context = base_context(number, CallerStatus.UNKNOWN, caller_e164, now)
    found = find_lead(caller_e164)
    if found is None:
        context.objected_to_calls = is_on_dnc_list(caller_e164)
        return context
    return fill_from_lead(context, found.lead, found.owner_name, number, now, found.on_dnc_list)
