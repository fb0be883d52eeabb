"""What `make up` prints once the local stack is up: where things are, how to sign in, whether the demo
chains can call right now, and two copy-paste curls (a signed webhook and the API) that really work.

Pure functions of their inputs (time, policy, paths), so tests check the text and run the curls.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from crm.demo import DEMO_PASSWORD, USERS, demo_leads
from crm.services.compliance import GatePolicy, is_within_window, next_window_start, zone_for
from crm.services.normalize import FieldError, normalise_phone
from workers.demo_window import NOTICE

HOME_ZONE = "Europe/Berlin"  # the sales team's zone: every time is also shown in it
DEMO_SOURCE = "demo"
# Synthetic people (the .example domain; phone numbers in the 030 2312510x block the demo leads use):
# last digit 9 books an appointment in the provider sandbox, 1 is interested.
WEBHOOK_EXAMPLE = {
    "first_name": "Erika",
    "last_name": "Musterfrau",
    "company": "Beispiel GmbH",
    "email": "erika.musterfrau@demo-beispiel.example",
    "phone": "+49 30 23125109",
    "phone_consent": "ja",
    "interest": "Demo gewünscht",
}
API_EXAMPLE = {
    "first_name": "Max",
    "last_name": "Mustermann",
    "company": "Beispiel AG",
    "email": "max.mustermann@demo-beispiel.example",
    "phone": "+49 30 23125111",
    "phone_consent": "ja",
    "source": "api-demo",
}


@dataclass(frozen=True)
class CalleeZone:
    region: str  # phone region of the demo leads in this zone (DE, US)
    zone: str  # IANA zone the gate uses for them


def demo_lead_zones(leads: Iterable[Mapping] | None = None) -> list[CalleeZone]:
    """The (region, zone) of every demo lead with a phone, read as intake reads them."""
    found: dict[tuple[str, str], CalleeZone] = {}
    for lead in demo_leads() if leads is None else leads:
        raw = lead.get("phone")
        if not raw:
            continue
        try:
            phone = normalise_phone(str(raw), str(lead.get("country") or "DE"))
        except FieldError:
            continue
        region = phone.region or "DE"
        zone = zone_for(phone.timezone, region)
        found.setdefault((region, zone), CalleeZone(region, zone))
    return sorted(found.values(), key=lambda c: (c.region != "DE", c.region, c.zone))


def _when(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %H:%M")


def _after(delta_s: float) -> str:
    minutes = int(delta_s // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return (f"{days} d " if days else "") + (f"{hours} h " if hours or days else "") + f"{mins} min"


def calling_hours_lines(
    policy: GatePolicy, now_utc: datetime, zones: list[CalleeZone], *, demo_anytime: bool, stored_hours: bool
) -> list[str]:
    """The calling-hours situation right now for the demo leads' zones, and what to do about it."""
    lines = [f"Calling hours now ({_when(now_utc, HOME_ZONE)} {HOME_ZONE}):"]
    any_closed = False
    for callee in zones:
        window = policy.window_for(callee.region)
        holidays = policy.holiday_calendar(callee.region)
        label = f"{callee.region} leads ({callee.zone}, {window.describe()})"
        if is_within_window(now_utc, callee.zone, window, holidays):
            lines.append(f"  {label}: open now, calls go out")
            continue
        any_closed = True
        opens = next_window_start(now_utc, callee.zone, window, holidays)
        also = "" if callee.zone == HOME_ZONE else f" = {_when(opens, HOME_ZONE)} Berlin"
        lines.append(
            f"  {label}: closed; next window opens {_when(opens, callee.zone)} local{also} "
            f"(in {_after((opens - now_utc).total_seconds())})"
        )
    if demo_anytime:
        lines.append(f"  !!! {NOTICE}")
        if stored_hours:
            lines.append(
                "  !!! but calling hours stored in Settings win over it: reset them at /settings/calling-hours"
            )
    elif any_closed:
        lines.append(
            "  Demo chains wait for the window. To call now, restart with `LEADCHAIN_DEMO_ANYTIME=1 make up` "
            "(a demo-only window: every day, all hours)."
        )
    lines.append("  'Jetzt anrufen' / 'Call now' on a lead skips the score threshold, never the calling hours.")
    return lines


def curl_commands(base_url: str, leadchain: str, env_prefix: str = "") -> tuple[str, str]:
    """(signed webhook, API) one-liners. Secrets are read by `leadchain` from the local stack's secrets,
    so none is printed here or ends up in the shell history."""
    cli = f"{env_prefix}{shlex.quote(leadchain)}"
    webhook = (
        f"{cli} sign-webhook --source {DEMO_SOURCE} --url {shlex.quote(base_url)} "
        f"--data {shlex.quote(json.dumps(WEBHOOK_EXAMPLE, ensure_ascii=False))} "
        "| curl -sS --fail-with-body -K -"
    )
    api = (
        f"curl -sS --fail-with-body {shlex.quote(base_url.rstrip('/') + '/api/v1/leads')} "
        f"-H \"X-API-Key: $({cli} local-api-key)\" -H 'Content-Type: application/json' "
        f"--data-raw {shlex.quote(json.dumps(API_EXAMPLE, ensure_ascii=False))}"
    )
    return webhook, api


def render(
    *,
    services: list[tuple[str, str]],
    base_url: str,
    secrets_file: Path | None,
    leadchain: str,
    var_dir_override: str | None,
    policy: GatePolicy,
    now_utc: datetime | None = None,
    zones: list[CalleeZone] | None = None,
    demo_anytime: bool = False,
    stored_hours: bool = False,
    password_from_env: bool = False,
) -> str:
    """The whole banner."""
    now_utc = now_utc or datetime.now(UTC)
    out = ["", "leadchain local stack is up:"]
    out += [f"  {name:10s} {url}" for name, url in services]
    if secrets_file is not None:
        out.append(f"  {'secrets':10s} {secrets_file} (local only; `leadchain` commands in another terminal read it)")
    password = "$LEADCHAIN_DEMO_PASSWORD" if password_from_env else DEMO_PASSWORD
    out += ["", f"Sign in at {base_url} with password {password} as:"]
    width = max((len(email) for email, _name, _role, _lang in USERS), default=0) + 1
    out += [f"  {email:{width}s} {role.value}" for email, _name, role, _lang in USERS]
    out.append("  (the admin sets up a two-factor code at the first sign-in: the page shows the key for any")
    out.append("   authenticator app; docs/security.md)")
    out += [""] + calling_hours_lines(
        policy,
        now_utc,
        zones if zones is not None else demo_lead_zones(),
        demo_anytime=demo_anytime,
        stored_hours=stored_hours,
    )
    prefix = f"LEADCHAIN_VAR_DIR={shlex.quote(var_dir_override)} " if var_dir_override else ""
    webhook, api = curl_commands(base_url, leadchain, prefix)
    out += [
        "",
        "Try it (copy-paste into another terminal):",
        "  # a lead through the signed webhook (Standard Webhooks signature computed by leadchain sign-webhook)",
        f"  {webhook}",
        "  # a lead through the REST API with the local API key",
        f"  {api}",
        "",
    ]
    out += follow_lines(base_url, _sandbox_base(services), leadchain, prefix)
    return "\n".join(out)


def _sandbox_base(services: list[tuple[str, str]]) -> str | None:
    """scheme://host:port of the provider sandbox from its service line ("http://…/sandbox/calls  (…)")."""
    for name, text in services:
        if name == "sandbox" and text.strip():
            parts = urlsplit(text.split()[0])
            if parts.scheme and parts.netloc:
                return f"{parts.scheme}://{parts.netloc}"
    return None


def follow_lines(base_url: str, sandbox: str | None, leadchain: str, env_prefix: str = "") -> list[str]:
    """Where a posted lead shows up next. A newcomer otherwise guesses: the 202's status_url answers 401
    without the API key, and the sandbox's mailbox is not linked from anywhere."""
    web = base_url.rstrip("/")
    cli = f"{env_prefix}{shlex.quote(leadchain)}"
    out = [
        "Then follow the lead:",
        f'  the 202\'s status_url needs the API key: curl -sS <status_url> -H "X-API-Key: $({cli} local-api-key)"',
        f"  {'lead pages':11s} {web}/leads  (score, chain steps, the call with its transcript, the emails)",
    ]
    if sandbox:
        out += [
            f"  {'calls':11s} {sandbox}/sandbox/calls  (what the sandbox provider dialled and how it went)",
            f"  {'mailbox':11s} {sandbox}/sendgrid/sandbox/mail  (every email the sandbox SendGrid accepted)",
        ]
    return [*out, ""]
