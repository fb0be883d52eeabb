"""Money: provider amounts kept in their own currency, shown in the company's currency with the rate used.

Voice providers bill in their currency (Retell, Vapi and Bland report USD cents): `Interaction.cost_cents`
with `Interaction.currency` is stored as reported and never rewritten. For display and for the report
totals an amount is converted into the company currency (`LEADCHAIN_COMPANY_CURRENCY`, default EUR)
with a rate from a table:

* an admin's rates (AppSetting ``fx.rates``, set on the reports page), which win pair by pair over
* ``LEADCHAIN_FX_RATES``, e.g. ``USD:EUR=0.92; GBP:EUR=1.17`` (1 USD = 0.92 EUR).

Rates are never fetched from the network. A pair is also usable the other way round (EUR:USD=1.087 gives
USD→EUR as 1/1.087). Without a rate an amount stays in its own currency and says so: nothing is
converted with a guessed rate.

Formatting is babel's in the page's or PDF's locale: ``0,46 € (0,50 $ zu 0,92)`` in German,
``€0.46 ($0.50 at 0.92)`` in English.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from babel.core import UnknownLocaleError
from babel.numbers import format_currency, format_decimal, get_currency_name
from flask import current_app, g, has_app_context, has_request_context

from crm.catalogs import N_, gettext
from crm.config import ReportSettings
from crm.extensions import db
from crm.languages import locale_for
from crm.models import AppSetting
from crm.models.types import utcnow
from crm.services import audit
from crm.tenancy.context import require_company_id

COMPANY_CURRENCY_SETTING = "LEADCHAIN_COMPANY_CURRENCY"
RATES_SETTING = "LEADCHAIN_FX_RATES"
RATES_KEY = "fx.rates"  # AppSetting key of the admin's rates (the text as entered)
DEFAULT_CURRENCY = "EUR"
MAX_RATES_CHARS = 2_000
# An amount converted at a rate, and one without a rate (msgids of the ``reports`` catalogue; the UI shows
# them too): "0,46 € (0,50 $ zu 0,92)", "0,50 £ (kein Kurs GBP→EUR)".
CONVERTED = N_("%(shown)s (%(original)s at %(rate)s)")
NO_RATE = N_("%(original)s (no %(source)s→%(target)s rate)")
_CODE = re.compile(r"^[A-Z]{3}$")
# Entries are separated by ";", line breaks or spaces, or by a comma before the next currency code, so a
# decimal comma ("USD:EUR=0,92", as a German admin types it) stays part of its rate.
_SEPARATOR = re.compile(r"[;\s]+|,(?=\s*[A-Za-z])")
_ENTRY = re.compile(r"^([A-Za-z]{3}):([A-Za-z]{3})=([0-9]+(?:[.,][0-9]+)?)$")


class MoneyConfigError(ValueError):
    """A currency or rate that cannot be used; `field` names the setting, `problems` each bad entry."""

    def __init__(self, field_name: str, problems: list[str]) -> None:
        super().__init__(f"{field_name}: {'; '.join(problems)}")
        self.field, self.problems = field_name, problems


def currency_code(value: str, field_name: str = COMPANY_CURRENCY_SETTING) -> str:
    """An ISO 4217 code babel knows ("eur" → "EUR"), else MoneyConfigError."""
    code = (value or "").strip().upper()
    if not _CODE.match(code) or get_currency_name(code, locale="en") == code:
        raise MoneyConfigError(field_name, [f"{value!r} is not an ISO 4217 currency code such as EUR or USD"])
    return code


def parse_rates(text: str | None, field_name: str = RATES_SETTING) -> dict[tuple[str, str], Decimal]:
    """``"USD:EUR=0.92; GBP:EUR=1.17"`` → {("USD", "EUR"): Decimal("0.92"), ...}; every bad entry is named."""
    if text is None or not text.strip():
        return {}
    if len(text) > MAX_RATES_CHARS:
        raise MoneyConfigError(field_name, [f"at most {MAX_RATES_CHARS} characters"])
    rates: dict[tuple[str, str], Decimal] = {}
    problems: list[str] = []
    for entry in (e for e in _SEPARATOR.split(text.strip()) if e):
        match = _ENTRY.match(entry)
        if not match:
            problems.append(f"{entry!r}: write FROM:TO=RATE, e.g. USD:EUR=0.92")
            continue
        try:
            source = currency_code(match.group(1), field_name)
            target = currency_code(match.group(2), field_name)
        except MoneyConfigError as e:
            problems.append(f"{entry!r}: {e.problems[0]}")
            continue
        rate = Decimal(match.group(3).replace(",", "."))
        if source == target or not rate > 0 or rate > Decimal(1_000_000):
            problems.append(f"{entry!r}: the rate must be above 0 (and at most 1,000,000) between two currencies")
        elif (source, target) in rates:
            problems.append(f"{entry!r}: {source}:{target} is given twice")
        else:
            rates[(source, target)] = rate
    if problems:
        raise MoneyConfigError(field_name, problems)
    return rates


def rates_text(rates: Mapping[tuple[str, str], Decimal]) -> str:
    return "; ".join(f"{s}:{t}={r}" for (s, t), r in sorted(rates.items()))


def _reports() -> ReportSettings:
    """The current app's Settings.reports (company currency, configured rates); the defaults outside."""
    if not has_app_context():
        return ReportSettings()
    found: ReportSettings = current_app.config["LEADCHAIN"].reports
    return found


def company_currency() -> str:
    return currency_code(_reports().company_currency or DEFAULT_CURRENCY)


def admin_rates() -> dict[tuple[str, str], Decimal]:
    """The rates an admin stored (empty without an app context or a stored row)."""
    if not has_app_context():
        return {}

    row = db.session.get(AppSetting, (require_company_id(), RATES_KEY))  # the company's own rates
    return parse_rates(row.value, RATES_KEY) if row is not None and row.value else {}


@dataclass(frozen=True)
class Rate:
    source: str
    target: str
    rate: Decimal
    origin: str  # "admin" | "config" | "inverse of admin" | "inverse of config"


@dataclass(frozen=True)
class RateTable:
    config: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)
    admin: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)

    def find(self, source: str, target: str) -> Rate | None:
        """The rate from `source` to `target`: admin over config, direct over inverse; None when unknown."""
        source, target = source.upper(), target.upper()
        if source == target:
            return Rate(source, target, Decimal(1), "same")
        for origin, table in (("admin", self.admin), ("config", self.config)):
            if (source, target) in table:
                return Rate(source, target, table[(source, target)], origin)
            if (target, source) in table:
                return Rate(source, target, Decimal(1) / table[(target, source)], f"inverse of {origin}")
        return None


def configured_rates() -> dict[tuple[str, str], Decimal]:
    return parse_rates(_reports().fx_rates)


def rate_table() -> RateTable:
    """The rates in force; read once per web request (a lead page formats every call's cost with it)."""
    if has_request_context():
        table = g.get("leadchain_fx_rates")
        if table is None:
            table = g.leadchain_fx_rates = RateTable(config=configured_rates(), admin=admin_rates())
        return table
    return RateTable(config=configured_rates(), admin=admin_rates())


@dataclass(frozen=True)
class Amount:
    """An amount as billed (`source_cents` in `source_currency`) and, when a rate is known, in `currency`."""

    source_cents: Decimal
    source_currency: str
    currency: str  # the company currency (the target)
    cents: Decimal | None  # None: no rate known
    rate: Decimal | None

    @property
    def converted(self) -> bool:
        return self.cents is not None and self.source_currency != self.currency


def in_company_currency(
    cents: int | float | Decimal, currency: str | None, *, table: RateTable | None = None, company: str | None = None
) -> Amount:
    company = company or company_currency()
    source = (currency or company).upper()
    found = (table or rate_table()).find(source, company)
    value = Decimal(str(cents))
    return Amount(value, source, company, value * found.rate if found else None, found.rate if found else None)


def _locale(language: str) -> str:
    return locale_for(language)


def format_cents(cents: int | float | Decimal | None, currency: str | None, language: str) -> str:
    """Cents in the locale's money format: 46, EUR, de → "0,46 €"; "" without an amount."""
    if cents is None or not currency:
        return ""
    try:
        return format_currency(Decimal(str(cents)) / 100, currency.upper(), locale=_locale(language))
    except (UnknownLocaleError, ValueError):
        return format_currency(Decimal(str(cents)) / 100, currency.upper(), locale="de_DE")


def format_rate(rate: Decimal | float | str, language: str) -> str:
    return format_decimal(Decimal(str(rate)), format="#,##0.00####", locale=_locale(language))


def format_amount(amount: Amount, language: str) -> str:
    """ "0,46 € (0,50 $ zu 0,92)"; the same currency: "0,46 €"; no rate: "0,50 $ (kein Kurs USD→EUR)"."""
    original = format_cents(amount.source_cents, amount.source_currency, language)
    if amount.cents is None:
        return gettext(
            language, "reports", NO_RATE, original=original, source=amount.source_currency, target=amount.currency
        )
    shown = format_cents(amount.cents, amount.currency, language)
    # A rate is known exactly when `cents` is; testing it too narrows `rate` for the type checker.
    if not amount.converted or amount.rate is None:
        return shown
    rate = format_rate(amount.rate, language)
    return gettext(language, "reports", CONVERTED, shown=shown, original=original, rate=rate)


def display(cents: int | None, currency: str | None, language: str) -> str:
    """One provider amount for a page: in the company currency with the rate used ("" without an amount)."""
    if cents is None:
        return ""
    try:
        return format_amount(in_company_currency(cents, currency), language)
    except MoneyConfigError:
        # A broken setting must not break the page: the amount as billed (the settings page names the error).
        return format_cents(cents, currency or DEFAULT_CURRENCY, language)


def set_admin_rates(text: str, actor: str) -> dict[tuple[str, str], Decimal]:
    """Store the admin's rates (validated; "" removes them), audited; runs in the caller's transaction."""
    rates = parse_rates(text, "fx_rates")
    row = db.session.get(AppSetting, (require_company_id(), RATES_KEY))  # the company's own rates
    before = {"key": RATES_KEY, "value": row.value if row is not None else None}
    if not rates:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        db.session.add(
            AppSetting(
                company_id=require_company_id(),
                key=RATES_KEY,
                value=rates_text(rates),
                updated_by=actor,
                updated_at=utcnow(),
            )
        )
    else:
        row.value, row.updated_by, row.updated_at = rates_text(rates), actor, utcnow()
    audit.record(
        actor,
        "setting.update" if rates else "setting.reset",
        "app_setting",
        None,
        before=before,
        after={"key": RATES_KEY, "value": rates_text(rates) or None},
    )
    db.session.flush()
    if has_request_context():
        g.pop("leadchain_fx_rates", None)  # this request shows the new rates
    return rates
