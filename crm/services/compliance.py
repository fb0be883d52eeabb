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

Configuration (crm.config.Settings.chain.gate, parsed by GatePolicy.from_settings; calling hours an admin
stores in Settings replace LEADCHAIN_CALLING_HOURS, read at every gate check: crm.services.app_settings):
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

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import sqlalchemy as sa
from flask import current_app

from crm.config import GateSettings, Settings, SettingsError
from crm.extensions import db
from crm.models import ConsentRecord, Direction, DoNotCallEntry, Interaction, InteractionKind, Lead, LeadStatus
from crm.privacy import suppression
from crm.services import audit, settings_store

# Re-exported ("as"): the settings, the banner, task due dates and the tests import calling hours from here.
from crm.services.calling_hours import DAY_NAMES as DAY_NAMES
from crm.services.calling_hours import DE_WINDOW as DE_WINDOW
from crm.services.calling_hours import US_WINDOW as US_WINDOW
from crm.services.calling_hours import CallingWindow as CallingWindow
from crm.services.calling_hours import GateConfigError as GateConfigError
from crm.services.calling_hours import aware_utc, calling_windows, start_of_next_day
from crm.services.calling_hours import german_holidays as german_holidays
from crm.services.calling_hours import is_within_window as is_within_window
from crm.services.calling_hours import next_window_start as next_window_start
from crm.services.calling_hours import parse_calling_hours as parse_calling_hours
from crm.services.calling_hours import zone_for as zone_for
from workflows.vocabulary import GateReason

log = logging.getLogger(__name__)

UTC = UTC
REASONS = tuple(GateReason)


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
    def from_settings(cls, gate: GateSettings) -> GatePolicy:
        """The policy the configuration gives (crm.config.Settings.chain.gate)."""
        windows, default = calling_windows(gate.calling_hours)
        for state in gate.german_holiday_states:
            if state not in holidays.Germany.subdivisions:
                raise GateConfigError(f"LEADCHAIN_GERMAN_HOLIDAY_STATES: unknown German state {state!r}")
        return cls(
            windows=windows,
            default_window=default,
            max_attempts_per_day=gate.max_attempts_per_day,
            require_express_consent_for_ai_calls=gate.require_express_consent_for_ai_calls,
            german_public_holidays=gate.german_public_holidays,
            german_holiday_states=gate.german_holiday_states,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GatePolicy:
        """The policy the variables in `environ` give (through Settings.from_env, the one reader)."""
        try:
            settings = Settings.from_env(environ)
        except SettingsError as e:
            raise GateConfigError(str(e)) from None
        return cls.from_settings(settings.chain.gate)

    def with_calling_hours(self, raw: str | Mapping | None) -> GatePolicy:
        """This policy with its windows taken from `raw` (LEADCHAIN_CALLING_HOURS's shape) instead:
        what an admin's stored calling hours do (crm.services.app_settings)."""
        windows, default = calling_windows(raw)
        return replace(self, windows=windows, default_window=default)


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
    now = aware_utc(now_utc)
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
        nxt = next_window_start(start_of_next_day(now, zone), tz, window, calendar)
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
    if db.session.scalar(sa.select(DoNotCallEntry.id).where(DoNotCallEntry.phone_e164 == e164)) is not None:
        return True
    # An erased person's number is listed only as a keyed hash (crm.privacy.suppression).
    return bool(suppression.matches(None, e164))


def attempts_on_local_day(lead_id: int, now_utc: datetime, tz: str) -> int:
    """Outbound calls to the lead started (or, not yet started, created) on now's local day in tz."""
    zone = ZoneInfo(tz)
    day = aware_utc(now_utc).astimezone(zone).date()
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


def configured_policy() -> GatePolicy:
    """The current app's policy: the one handed to create_app(gate_policy=...), else its settings'."""
    found: GatePolicy | None = current_app.extensions.get("leadchain.gate_policy")
    return found or GatePolicy.from_settings(current_app.config["LEADCHAIN"].chain.gate)


def gate_policy(base: GatePolicy | None = None) -> GatePolicy:
    """The gate policy in force for the current company: `base`, else the app's (configured_policy), with the
    calling hours its admin stored (crm.services.settings_store) in place of LEADCHAIN_CALLING_HOURS and the
    public holidays of its state (Company.state)."""
    policy = base or configured_policy()
    hours = settings_store.calling_hours()
    policy = policy if hours is None else policy.with_calling_hours(hours)
    # The company's Bundesland adds its public holidays to the national ones (and any configured states).
    state = settings_store.holiday_state()
    if state is None or state in policy.german_holiday_states:
        return policy
    return replace(policy, german_holiday_states=(*policy.german_holiday_states, state))


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
