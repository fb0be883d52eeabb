"""The setup wizard's form checks: each returns the values to store, or raises FormProblems naming every
bad field (the page answers 422 with them)."""

from __future__ import annotations

import re
from typing import Any

from crm.models.companies import STATES
from crm.models.users import Role
from crm.onboarding import test_calls
from crm.onboarding.progress import DEFAULT_HOURS
from crm.ui.i18n import _

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
EMAIL = re.compile(r"[^\s@<>\"',;:]+@[^\s@<>\"',;:]+\.[A-Za-z]{2,}")
E164 = re.compile(r"\+[1-9]\d{6,14}")
PROVIDERS = ("retell", "vapi", "bland")
MAX_INVITES = 50


class FormProblems(ValueError):
    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems))  # field names only: values may be personal
        self.problems = problems


def hours(form: Any) -> dict[str, Any]:
    """Opening hours per weekday (an empty pair: closed), the Bundesland and the appointment length."""
    problems: dict[str, str] = {}
    week: dict[str, list[list[str]]] = {}
    for day in DAYS:
        start, end = (form.get(f"{day}_{edge}", "").strip() for edge in ("from", "to"))
        if not start and not end:
            continue
        if not CLOCK.fullmatch(start) or not CLOCK.fullmatch(end):
            problems[f"{day}_from"] = _("opening and closing time as HH:MM, or both empty")
        elif not start < end:
            problems[f"{day}_from"] = _("opening must be before closing")
        else:
            week[day] = [[start, end]]
    state = form.get("state", "").strip() or None
    if state is not None and state not in STATES:
        problems["state"] = _("not a German state")
    minutes_raw = form.get("appointment_minutes", "").strip()
    minutes = int(minutes_raw) if minutes_raw.isdigit() else 0
    if not 10 <= minutes <= 240:
        problems["appointment_minutes"] = _("between 10 and 240 minutes")
    if not week and not problems:
        problems["mon_from"] = _("open on at least one day")
    if problems:
        raise FormProblems(problems)
    return {"business_hours": week, "state": state, "appointment_minutes": minutes}


def hours_defaults(answers: dict[str, Any]) -> dict[str, str]:
    week = answers.get("business_hours") or DEFAULT_HOURS
    values = {"appointment_minutes": str(answers.get("appointment_minutes") or 30)}
    for day in DAYS:
        pair = (week.get(day) or [["", ""]])[0]
        values[f"{day}_from"], values[f"{day}_to"] = pair[0], pair[1]
    return values


def invites(form: Any) -> tuple[list[str], Role]:
    lines = [line.strip() for line in form.get("emails", "").replace(",", "\n").splitlines() if line.strip()]
    problems: dict[str, str] = {}
    bad = [n for n, line in enumerate(lines, 1) if not EMAIL.fullmatch(line) or len(line) > 254]
    if bad:
        problems["emails"] = _("not an email address on line %(lines)s", lines=", ".join(map(str, bad)))
    elif len(lines) > MAX_INVITES:
        problems["emails"] = _("at most %(num)d addresses at once", num=MAX_INVITES)
    role_raw = form.get("role", "sales")
    role = next((r for r in Role if r.value == role_raw and r.value in ("sales", "manager", "admin")), None)
    if role is None:
        problems["role"] = _("one of sales, manager, admin")
    if problems:
        raise FormProblems(problems)
    assert role is not None
    return list(dict.fromkeys(line.lower() for line in lines)), role


def phone(form: Any) -> tuple[str, int]:
    problems: dict[str, str] = {}
    provider = form.get("provider", "")
    if provider not in PROVIDERS:
        problems["provider"] = _("choose Retell, Vapi or Bland")
    area = form.get("area_code", "").strip()
    if not (area.isdigit() and len(area) == 3 and area[0] in "23456789"):
        problems["area_code"] = _("a three-digit area code (e.g. 415)")
    if problems:
        raise FormProblems(problems)
    return provider, int(area)


def test_call(form: Any) -> tuple[str, str]:
    """The admin's number and the form's one-off token (crm.onboarding.test_calls: one call per form)."""
    problems = {}
    number = re.sub(r"[\s()/-]", "", form.get("to_number", ""))
    if not E164.fullmatch(number):
        problems["to_number"] = _("your number in international form, e.g. +4915112345678")
    attempt = form.get("attempt", "")
    if not test_calls.ATTEMPT.fullmatch(attempt):
        problems["attempt"] = _("this form is out of date: please send it again from the reloaded page")
    if problems:
        raise FormProblems(problems)
    return number, attempt
