"""Reading the deal pages' form and query fields: whole numbers, amounts of money and dates as people type
them, and never an exception for what they (or a script) send instead.

Only ASCII digits count as digits: "²".isdigit() and "١".isdigit() are true in Python, and int() of a few
of them raises or gives a number nobody typed."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from flask import request
from werkzeug.datastructures import MultiDict

_ID = re.compile(r"[0-9]{1,9}")  # an INTEGER column's size
# 1500 · 1500.5 · 1500,50 · 1.500,50 · 1,500.50 · 1 500,50 · 1'500.50 (a Swiss apostrophe)
_AMOUNT = re.compile(r"[0-9][0-9 .,'\u00a0\u202f]{0,24}")
_GROUPING = (" ", "'", "\u00a0", "\u202f")


def whole_number(value: str | None) -> int | None:
    """An id or a small whole number (up to nine digits); None for anything else."""
    text = (value or "").strip()
    return int(text) if _ID.fullmatch(text) else None


def field_id(name: str, form: MultiDict | None = None) -> int | None:
    return whole_number((form if form is not None else request.form).get(name))


def amount_cents(value: str | None) -> int | None:
    """An amount as typed in German, English or French notation, in cents; None when it is not one.

    The last "." or "," followed by one or two digits is the decimal mark; every other separator groups
    thousands. A negative amount is not one."""
    text = (value or "").strip()
    if not text:
        return 0
    if not _AMOUNT.fullmatch(text):
        return None
    for mark in _GROUPING:
        text = text.replace(mark, "")
    match = re.fullmatch(r"([0-9.,]*?)(?:[.,]([0-9]{1,2}))?", text)
    if match is None:
        return None
    whole, fraction = match.group(1).replace(".", "").replace(",", ""), match.group(2) or ""
    if not whole and not fraction:
        return None
    try:
        amount = Decimal(f"{whole or 0}.{fraction or 0}")
    except InvalidOperation:
        return None
    return int(amount.scaleb(2))


def plain_amount(cents: int) -> str:
    """Cents as an editable amount: 150050 → "1500.50" (no grouping, so it reads back the same)."""
    return f"{cents // 100}.{cents % 100:02d}"


def iso_date(value: str | None) -> tuple[bool, date | None]:
    """(ok, date): an empty field is (True, None); a date input's YYYY-MM-DD is (True, date); else (False, None)."""
    text = (value or "").strip()
    if not text:
        return True, None
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return False, None
    try:
        return True, date.fromisoformat(text)
    except ValueError:
        return False, None
