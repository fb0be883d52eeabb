"""The call gate: may the AI agent call this lead now? If not, why, and from when on?

`decide` is pure (facts in, decision out); `check_call_gate` reads the facts from the CRM and writes
refusals to the audit log. Checks run in this order and the first failing one is the reason:
no phone / invalid phone → do-not-contact (lead flag or the external list) → consent → score → attempts
today → calling hours. A phone status of "unverified" (or "unknown") may be dialled; "invalid" may not.
The score must be strictly above the threshold (an unscored lead is refused), as in scoring's next_action.
Attempts are outbound call interactions started (else created) on the current local day of the callee.

Consent (UWG § 7 Abs. 2 Nr. 1 and 2, TCPA): an active phone consent with legal basis express_consent
or callback_request. presumed_b2b counts only when `require_express_consent_for_ai_calls` is off, and
never for regions in `express_consent_regions` (default US: AI voices are artificial voices under the
TCPA, so prior express consent is needed whatever the policy flag says).

Calling hours are local to the callee: the lead's phone_timezone, else the zone of its phone region
(REGION_ZONES), else Europe/Berlin. The window is picked by the phone region (`windows`, else
`default_window`, else the DE window). A window is [start, end): 19:59 is inside a 09:00-20:00
window, 20:00 is not. With `german_public_holidays`, DE leads are not called on German public holidays
(national ones, plus those of `german_holiday_states` if set: the strictest reading lists all 16).

Configuration (GatePolicy.from_env; calling hours an admin stores in Settings replace
LEADCHAIN_CALLING_HOURS, read at every gate check: crm.services.app_settings):
  LEADCHAIN_CALLING_HOURS   JSON object by region, merged over the defaults; the key "default" sets the
                            window for regions not listed, e.g.
                            {"DE": {"days": "mon-fri", "start": "09:00", "end": "20:00"},
                             "US": {"days": [0, 1, 2, 3, 4, 5], "start": "08:00", "end": "21:00"}}
                            days: a list of 0-6 (0 = Monday) or names ("mon", "mon-fri", "mon,wed").
  LEADCHAIN_MAX_CALL_ATTEMPTS_PER_DAY            default 2
  LEADCHAIN_REQUIRE_EXPRESS_CONSENT_FOR_AI_CALLS default true
  LEADCHAIN_GERMAN_PUBLIC_HOLIDAYS               default true
  LEADCHAIN_GERMAN_HOLIDAY_STATES                comma-separated state codes, e.g. "BY,BW"; default none
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import sqlalchemy as sa

from crm.extensions import db
from crm.models import ConsentRecord, Direction, DoNotCallEntry, Interaction, InteractionKind, Lead, LeadStatus
from crm.services import audit, settings_store
from workflows.vocabulary import GateReason

log = logging.getLogger(__name__)

UTC = UTC
FALLBACK_ZONE = "Europe/Berlin"
# Used only when a lead has no phone_timezone. Countries spanning several zones get a default
# (US: America/New_York); intake stores the zone of the number itself when libphonenumber knows it.
REGION_ZONES = {
    "DE": "Europe/Berlin",
    "AT": "Europe/Vienna",
    "CH": "Europe/Zurich",
    "LI": "Europe/Vaduz",
    "LU": "Europe/Luxembourg",
    "NL": "Europe/Amsterdam",
    "BE": "Europe/Brussels",
    "FR": "Europe/Paris",
    "IT": "Europe/Rome",
    "ES": "Europe/Madrid",
    "PL": "Europe/Warsaw",
    "CZ": "Europe/Prague",
    "DK": "Europe/Copenhagen",
    "SE": "Europe/Stockholm",
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "US": "America/New_York",
    "CA": "America/Toronto",
}
REASONS = tuple(GateReason)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class GateConfigError(ValueError):
    """Calling-hours or gate configuration that cannot be used."""


@dataclass(frozen=True)
class CallingWindow:
    days: tuple[int, ...]  # 0 = Monday .. 6 = Sunday
    start: time
    end: time  # exclusive

    def __post_init__(self) -> None:
        if not self.days or any(not isinstance(d, int) or not 0 <= d <= 6 for d in self.days):
            raise GateConfigError(f"calling window days must be 0-6 (Monday = 0), got {self.days!r}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise GateConfigError("calling window times are local wall-clock times, without a zone")
        if not self.start < self.end:
            raise GateConfigError(f"calling window must start before it ends ({self.start}-{self.end})")

    def describe(self) -> str:
        days = ",".join(DAY_NAMES[d].capitalize() for d in sorted(set(self.days)))
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M}"


WEEKDAYS = (0, 1, 2, 3, 4)
DE_WINDOW = CallingWindow(WEEKDAYS, time(9), time(20))
US_WINDOW = CallingWindow(WEEKDAYS, time(8), time(21))


@dataclass(frozen=True)
class GatePolicy:
    windows: dict[str, CallingWindow] = field(default_factory=lambda: {"DE": DE_WINDOW, "US": US_WINDOW}, hash=False)
    max_attempts_per_day: int = 2
    require_express_consent_for_ai_calls: bool = True
    german_public_holidays: bool = True
    default_window: CallingWindow | None = None  # None: the DE window
    german_holiday_states: tuple[str, ...] = ()
    express_consent_regions: tuple[str, ...] = ("US",)

    def window_for(self, region: str | None) -> CallingWindow:
        if region and region.upper() in self.windows:
            return self.windows[region.upper()]
        return self.default_window or self.windows.get("DE", DE_WINDOW)

    def holiday_calendar(self, region: str | None):
        if self.german_public_holidays and (region or "").upper() == "DE":
            return german_holidays(tuple(sorted(self.german_holiday_states)))
        return None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatePolicy:
        env = os.environ if environ is None else environ
        windows, default = calling_windows(env.get("LEADCHAIN_CALLING_HOURS", "").strip() or None)
        try:
            attempts = int(env.get("LEADCHAIN_MAX_CALL_ATTEMPTS_PER_DAY", "2"))
        except ValueError:
            raise GateConfigError("LEADCHAIN_MAX_CALL_ATTEMPTS_PER_DAY must be an integer") from None
        if attempts < 0:
            raise GateConfigError("LEADCHAIN_MAX_CALL_ATTEMPTS_PER_DAY must be 0 or more")
        states = tuple(
            s.strip().upper() for s in env.get("LEADCHAIN_GERMAN_HOLIDAY_STATES", "").split(",") if s.strip()
        )
        for state in states:
            if state not in holidays.Germany.subdivisions:
                raise GateConfigError(f"LEADCHAIN_GERMAN_HOLIDAY_STATES: unknown German state {state!r}")
        return cls(
            windows=windows,
            default_window=default,
            max_attempts_per_day=attempts,
            require_express_consent_for_ai_calls=_flag(env, "LEADCHAIN_REQUIRE_EXPRESS_CONSENT_FOR_AI_CALLS"),
            german_public_holidays=_flag(env, "LEADCHAIN_GERMAN_PUBLIC_HOLIDAYS"),
            german_holiday_states=states,
        )

    def with_calling_hours(self, raw: str | Mapping | None) -> GatePolicy:
        """This policy with its windows taken from `raw` (LEADCHAIN_CALLING_HOURS's shape) instead:
        what an admin's stored calling hours do (crm.services.app_settings)."""
        windows, default = calling_windows(raw)
        return replace(self, windows=windows, default_window=default)


def _flag(env: Mapping[str, str], name: str, default: bool = True) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise GateConfigError(f"{name} must be true or false, got {value!r}")


def _parse_days(value: Any, key: str) -> tuple[int, ...]:
    if isinstance(value, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        return tuple(sorted(set(value)))
    if isinstance(value, str):
        days: set[int] = set()
        for part in value.lower().replace(" ", "").split(","):
            first, _, last = part.partition("-")
            if first not in DAY_NAMES or (last and last not in DAY_NAMES):
                raise GateConfigError(f"{key}.days: cannot read {value!r} (use e.g. 'mon-fri' or [0,1,2,3,4])")
            a, b = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
            if b < a:
                raise GateConfigError(f"{key}.days: range {part!r} runs backwards")
            days.update(range(a, b + 1))
        return tuple(sorted(days))
    raise GateConfigError(f"{key}.days: must be a list of 0-6 or day names")


def parse_calling_hours(raw: str | Mapping) -> dict[str, CallingWindow]:
    """Parse the LEADCHAIN_CALLING_HOURS JSON (or an already parsed mapping) into windows by region."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as e:
        raise GateConfigError(f"LEADCHAIN_CALLING_HOURS is not valid JSON: {e}") from None
    if not isinstance(data, Mapping):
        raise GateConfigError("LEADCHAIN_CALLING_HOURS must be a JSON object keyed by region")
    out = {}
    for region, spec in data.items():
        key = region if region == "default" else region.upper()
        if key != "default" and (len(key) != 2 or not key.isalpha()):
            raise GateConfigError(f"LEADCHAIN_CALLING_HOURS: {region!r} is not an ISO region code")
        if (
            not isinstance(spec, Mapping)
            or set(spec) - {"days", "start", "end"}
            or "start" not in spec
            or "end" not in spec
        ):
            raise GateConfigError(f"{region}: needs start and end, optionally days (nothing else)")
        try:
            start, end = time.fromisoformat(spec["start"]), time.fromisoformat(spec["end"])
        except (TypeError, ValueError):
            raise GateConfigError(f"{region}: start and end must be HH:MM") from None
        days = _parse_days(spec.get("days", list(WEEKDAYS)), region)
        try:
            out[key] = CallingWindow(days, start, end)
        except GateConfigError as e:
            raise GateConfigError(f"{region}: {e}") from None
    return out


def calling_windows(raw: str | Mapping | None) -> tuple[dict[str, CallingWindow], CallingWindow | None]:
    """(windows by region, default window) from LEADCHAIN_CALLING_HOURS's JSON (or a mapping of that
    shape), merged over the DE and US defaults; None or empty: the defaults. The one reading of calling
    hours: the environment and the admin's stored override both go through it."""
    windows, default = {"DE": DE_WINDOW, "US": US_WINDOW}, None
    for region, window in (parse_calling_hours(raw) if raw else {}).items():
        if region == "default":
            default = window
        else:
            windows[region] = window
    return windows, default


class _Holidays:
    """German public holidays: national ones plus those of the given states."""

    def __init__(self, states: tuple[str, ...]) -> None:
        self._calendars = [holidays.country_holidays("DE")] + [
            holidays.country_holidays("DE", subdiv=s) for s in states
        ]

    def __contains__(self, day: date) -> bool:
        return any(day in cal for cal in self._calendars)

    def get(self, day: date) -> str | None:
        return next((cal.get(day) for cal in self._calendars if day in cal), None)


@lru_cache(maxsize=8)
def german_holidays(states: tuple[str, ...] = ()) -> _Holidays:
    return _Holidays(states)


# ---------------------------------------------------------------- calling windows


def _aware(now_utc: datetime) -> datetime:
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    return now_utc.astimezone(UTC)


def is_within_window(now_utc: datetime, tz: str, window: CallingWindow, holiday_calendar=None) -> bool:
    local = _aware(now_utc).astimezone(ZoneInfo(tz))
    if local.weekday() not in window.days:
        return False
    if holiday_calendar is not None and local.date() in holiday_calendar:
        return False
    return window.start <= local.time() < window.end


def _transition(lo: datetime, hi: datetime, zone: ZoneInfo) -> datetime | None:
    """The first instant in (lo, hi] with a different UTC offset than lo, if the offset changes."""

    def offset(ts: int) -> timedelta | None:
        return datetime.fromtimestamp(ts, UTC).astimezone(zone).utcoffset()

    a, b = int(lo.timestamp()), int(hi.timestamp())
    first = offset(a)
    if offset(b) == first:
        return None
    while b - a > 1:  # offsets change on whole seconds
        mid = (a + b) // 2
        if offset(mid) == first:
            a = mid
        else:
            b = mid
    return datetime.fromtimestamp(b, UTC)


def _candidates(day: date, zone: ZoneInfo, window: CallingWindow) -> list[datetime]:
    """Every instant at which the window can open on local `day`: its start time (both readings of an
    ambiguous wall time) and a DST transition that day (when the start falls in a skipped hour)."""
    out = [datetime.combine(day, window.start, zone).replace(fold=f).astimezone(UTC) for f in (0, 1)]
    lo = datetime.combine(day, time(0), zone).astimezone(UTC) - timedelta(hours=3)
    hi = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC) + timedelta(hours=3)
    switch = _transition(lo, hi, zone)
    if switch is not None:
        out.append(switch)
    return out


def next_window_start(now_utc: datetime, tz: str, window: CallingWindow, holiday_calendar=None) -> datetime:
    """The first instant >= now_utc inside the window, in UTC (now_utc itself when it is inside).

    Works on local calendar days of `tz`, so weekends, holidays and DST changes fall out naturally.
    """
    now = _aware(now_utc)
    if is_within_window(now, tz, window, holiday_calendar):
        return now
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    best: datetime | None = None
    for offset in range(-1, 400):
        day = today + timedelta(days=offset)
        if best is not None and datetime.combine(day, time(0), zone).astimezone(UTC) > best:
            return best  # later days only open later
        if day.weekday() not in window.days or (holiday_calendar is not None and day in holiday_calendar):
            continue
        found = [
            c for c in _candidates(day, zone, window) if c >= now and is_within_window(c, tz, window, holiday_calendar)
        ]
        if found:
            best = min([*found, best] if best else found)
    if best is None:
        raise ValueError(f"no calling window within 400 days for {window.describe()} in {tz}")
    return best


def _start_of_next_day(now: datetime, zone: ZoneInfo) -> datetime:
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), zone).astimezone(UTC)


def zone_for(phone_timezone: str | None, region: str | None) -> str:
    """The callee's zone: the number's own zone if known and valid, else the region's, else Berlin."""
    for name in (phone_timezone, REGION_ZONES.get((region or "").upper())):
        if name:
            try:
                ZoneInfo(name)
                return name
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("unknown time zone %r on a lead; falling back", name)
    return FALLBACK_ZONE


# ---------------------------------------------------------------- the decision


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reason: GateReason
    detail: str
    next_window_start: datetime | None = None  # UTC; set for outside_hours and attempt_cap


def accepted_bases(policy: GatePolicy, region: str | None) -> frozenset[str]:
    bases = {"express_consent", "callback_request"}
    if not policy.require_express_consent_for_ai_calls and (region or "").upper() not in {
        r.upper() for r in policy.express_consent_regions
    }:
        bases.add("presumed_b2b")
    return frozenset(bases)


def _value(x: Any) -> str:
    return str(getattr(x, "value", x))


def decide(
    *,
    now_utc: datetime,
    phone_e164: str | None,
    phone_status: str,
    phone_region: str | None,
    phone_timezone: str | None,
    do_not_contact: bool,
    consents: Iterable[tuple[str, str]],
    attempts_today: int,
    score: int | None,
    threshold: int,
    policy: GatePolicy,
) -> GateDecision:
    """Decide whether the lead may be called at now_utc. Pure; the detail never contains the number."""
    now = _aware(now_utc)
    if not phone_e164:
        return GateDecision(False, GateReason.NO_PHONE, "lead has no phone number")
    if phone_status == "invalid":
        return GateDecision(False, GateReason.PHONE_INVALID, "phone number is marked invalid")
    if do_not_contact:
        return GateDecision(False, GateReason.DO_NOT_CONTACT, "lead is marked do-not-contact")
    bases = accepted_bases(policy, phone_region)
    phone_bases = {_value(b) for c, b in consents if _value(c) == "phone"}
    if not phone_bases & bases:
        detail = f"no active phone consent with legal basis {' or '.join(sorted(bases))}"
        if "presumed_b2b" in phone_bases:
            why = (
                "the policy requires express consent for AI calls"
                if policy.require_express_consent_for_ai_calls
                else f"{(phone_region or '').upper()} numbers need express consent"
            )
            detail += f" (presumed B2B consent is not enough: {why})"
        return GateDecision(False, GateReason.NO_CONSENT, detail)
    if score is None:
        return GateDecision(False, GateReason.SCORE_BELOW_THRESHOLD, "lead has not been scored")
    if score <= threshold:
        return GateDecision(
            False, GateReason.SCORE_BELOW_THRESHOLD, f"score {score} is not above the threshold {threshold}"
        )

    tz = zone_for(phone_timezone, phone_region)
    zone = ZoneInfo(tz)
    window = policy.window_for(phone_region)
    calendar = policy.holiday_calendar(phone_region)
    if attempts_today >= policy.max_attempts_per_day:
        nxt = next_window_start(_start_of_next_day(now, zone), tz, window, calendar)
        return GateDecision(
            False,
            GateReason.ATTEMPT_CAP,
            f"{attempts_today} call attempts today (limit {policy.max_attempts_per_day})",
            nxt,
        )
    if not is_within_window(now, tz, window, calendar):
        local = now.astimezone(zone)
        holiday = calendar.get(local.date()) if calendar is not None and local.date() in calendar else None
        why = f"public holiday ({holiday})" if holiday else f"{local:%a %H:%M}"
        rules = (phone_region or "").upper() or "default"
        detail = f"{why} in {tz} is outside calling hours {window.describe()} ({rules})"
        return GateDecision(False, GateReason.OUTSIDE_HOURS, detail, next_window_start(now, tz, window, calendar))
    return GateDecision(True, GateReason.OK, f"may call now ({tz}, {window.describe()})")


# ---------------------------------------------------------------- the CRM side


def is_on_dnc_list(e164: str | None) -> bool:
    """Whether the number is on the external do-not-call list (DoNotCallEntry, table dnc_list)."""
    if not e164:
        return False
    return db.session.scalar(sa.select(DoNotCallEntry.id).where(DoNotCallEntry.phone_e164 == e164)) is not None


def attempts_on_local_day(lead_id: int, now_utc: datetime, tz: str) -> int:
    """Outbound calls to the lead started (or, not yet started, created) on now's local day in tz."""
    zone = ZoneInfo(tz)
    day = _aware(now_utc).astimezone(zone).date()
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    at = sa.func.coalesce(Interaction.started_at, Interaction.created_at)
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Interaction)
            .where(
                Interaction.lead_id == lead_id,
                Interaction.kind == InteractionKind.CALL,
                Interaction.direction == Direction.OUTBOUND,
                at >= start,
                at < end,
            )
        )
        or 0
    )


def gate_policy(base: GatePolicy | None = None) -> GatePolicy:
    """The gate policy in force: `base` (the app's configured one) or the environment's, with the calling
    hours an admin stored (crm.services.settings_store) in place of LEADCHAIN_CALLING_HOURS."""
    policy = base or GatePolicy.from_env()
    hours = settings_store.calling_hours()
    return policy if hours is None else policy.with_calling_hours(hours)


def check_call_gate(
    lead_id: int,
    *,
    now_utc: datetime,
    threshold: int,
    policy: GatePolicy | None = None,
    record_refusal: bool = True,
    actor: str = "system:call-gate",
) -> GateDecision:
    """Decide for a CRM lead; a refusal is written to the audit log (reason and detail, no number).
    Does not commit. Calling hours an admin stored (gate_policy) replace the policy's."""
    policy = gate_policy(policy)
    lead = db.session.get(Lead, lead_id)
    if lead is None:
        raise LookupError(f"lead {lead_id} does not exist")
    consents = db.session.execute(
        sa.select(ConsentRecord.channel, ConsentRecord.legal_basis).where(
            ConsentRecord.lead_id == lead_id, ConsentRecord.withdrawn_at.is_(None)
        )
    ).all()
    flagged = lead.do_not_contact or lead.status == LeadStatus.DO_NOT_CONTACT
    listed = not flagged and is_on_dnc_list(lead.phone_e164)
    tz = zone_for(lead.phone_timezone, lead.phone_region)
    decision = decide(
        now_utc=now_utc,
        phone_e164=lead.phone_e164,
        phone_status=lead.phone_status,
        phone_region=lead.phone_region,
        phone_timezone=lead.phone_timezone,
        do_not_contact=flagged or listed or lead.merged_into_id is not None,
        consents=[(c, b) for c, b in consents],
        attempts_today=attempts_on_local_day(lead_id, now_utc, tz),
        score=lead.score,
        threshold=threshold,
        policy=policy,
    )
    if decision.reason == GateReason.DO_NOT_CONTACT:
        if lead.merged_into_id is not None:
            decision = replace(decision, detail=f"lead was merged into lead {lead.merged_into_id}")
        elif listed:
            decision = replace(decision, detail="number is on the do-not-call list")
    if not decision.allowed and record_refusal:
        after: dict[str, Any] = {"reason": decision.reason, "detail": decision.detail}
        if decision.next_window_start is not None:
            after["next_window_start"] = decision.next_window_start
        audit.record(actor, "call.refused", "lead", lead_id, after=after)
        db.session.flush()
    return decision
