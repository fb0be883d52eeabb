"""crm.services.money and the report's costs in the company currency: rates from LEADCHAIN_FX_RATES or an
admin (never the network), German and English formatting with the rate used, and the reference seed's
costs converted (figures worked out by hand from tests/reports/seed.py: C1..C7 as named there)."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from crm.extensions import db
from crm.models import AppSetting, AuditEntry, Direction, Interaction, InteractionKind, Lead
from crm.reports.kpis import compute
from crm.reports.pdf import render_pdf
from crm.reports.periods import daily
from crm.services import money
from tests.conftest import set_settings
from tests.reports.seed import seed_reference

DAY = date(2026, 1, 15)
NOW = datetime(2026, 1, 16, 7, tzinfo=UTC)


def plain(text: str) -> str:
    """babel separates amount and symbol with a no-break space; compare with plain spaces."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


def test_rates_are_parsed_and_every_bad_entry_is_named():
    assert money.parse_rates("USD:EUR=0.92; gbp:eur=1,17\nCHF:EUR=1.05, JPY:EUR=0.0061") == {
        ("USD", "EUR"): Decimal("0.92"),
        ("GBP", "EUR"): Decimal("1.17"),
        ("CHF", "EUR"): Decimal("1.05"),
        ("JPY", "EUR"): Decimal("0.0061"),
    }
    assert money.parse_rates("") == {} and money.parse_rates(None) == {}
    with pytest.raises(money.MoneyConfigError) as e:
        money.parse_rates("USD:EUR=0; XYZ:EUR=1; USD=EUR; EUR:EUR=1; GBP:EUR=1.1; GBP:EUR=1.2")
    assert e.value.field == "LEADCHAIN_FX_RATES"
    assert [p.split(":")[0] for p in e.value.problems] == ["'USD", "'XYZ", "'USD=EUR'", "'EUR", "'GBP"]
    assert "not an ISO 4217 currency code" in e.value.problems[1] and "given twice" in e.value.problems[4]
    with pytest.raises(money.MoneyConfigError):
        money.currency_code("Euro")
    assert money.currency_code(" usd ") == "USD"


def test_rate_table_admin_over_config_and_the_inverse():
    table = money.RateTable(
        config=money.parse_rates("USD:EUR=0.90; EUR:CHF=0.95"), admin=money.parse_rates("USD:EUR=0.92")
    )
    assert table.find("USD", "EUR").rate == Decimal("0.92") and table.find("USD", "EUR").origin == "admin"
    chf = table.find("CHF", "EUR")
    assert chf.origin == "inverse of config" and chf.rate == Decimal(1) / Decimal("0.95")
    assert table.find("EUR", "EUR").rate == 1 and table.find("GBP", "EUR") is None


@pytest.mark.parametrize(
    "language, expected",
    [
        ("de", ["0,46 € (0,50 $ zu 0,92)", "12,34 €", "0,50 £ (kein Kurs GBP→EUR)"]),
        ("en", ["€0.46 (US$0.50 at 0.92)", "€12.34", "£0.50 (no GBP→EUR rate)"]),
        ("fr", ["0,46 € (0,50 $US au taux de 0,92)", "12,34 €", "0,50 £GB (pas de taux GBP→EUR)"]),
    ],
)
def test_amounts_in_the_company_currency_with_the_rate(language, expected):
    table = money.RateTable(config=money.parse_rates("USD:EUR=0.92"))
    shown = [
        plain(money.format_amount(money.in_company_currency(c, cur, table=table, company="EUR"), language))
        for c, cur in ((50, "USD"), (1234, "EUR"), (50, "GBP"))
    ]
    assert shown == expected


def test_company_currency_and_rates_from_the_config(ctx, app):
    assert money.company_currency() == "EUR"  # the default
    set_settings(app, "reports", company_currency="chf", fx_rates="USD:CHF=0.8")
    assert money.company_currency() == "CHF"
    assert plain(money.display(50, "USD", "de")) == "0,40 CHF (0,50 $ zu 0,80)"
    set_settings(app, "reports", fx_rates="USD:CHF=zero")  # a broken setting: the amount as billed
    assert plain(money.display(50, "USD", "de")) == "0,50 $"


def test_admin_rates_are_stored_audited_and_win(ctx, app):
    set_settings(app, "reports", fx_rates="USD:EUR=0.90")
    assert plain(money.display(100, "USD", "de")) == "0,90 € (1,00 $ zu 0,90)"
    with pytest.raises(money.MoneyConfigError) as e:
        money.set_admin_rates("USD:EUR=-1", "user:1")
    assert e.value.field == "fx_rates" and db.session.get(AppSetting, (1, money.RATES_KEY)) is None
    money.set_admin_rates("usd:eur=0,93", "user:1")
    db.session.commit()
    assert db.session.get(AppSetting, (1, money.RATES_KEY)).value == "USD:EUR=0.93"
    assert plain(money.display(100, "USD", "en")) == "€0.93 (US$1.00 at 0.93)"
    money.set_admin_rates("", "user:1")  # back to the configured rates
    db.session.commit()
    assert db.session.get(AppSetting, (1, money.RATES_KEY)) is None
    assert plain(money.display(100, "USD", "de")) == "0,90 € (1,00 $ zu 0,90)"
    actions = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.entity_type == "app_setting").order_by(AuditEntry.id)
    ).all()
    assert actions == ["setting.update", "setting.reset"]


def test_report_costs_in_the_company_currency(ctx, app):
    set_settings(app, "reports", fx_rates="USD:EUR=0.92")
    seed_reference()
    r = compute(daily(DAY), now=NOW)
    k = r.current.costs
    # USD 290 over 5 priced calls (C1 C2 C3 C4 C5) * 0.92 = 266.8, plus C7's 5 EUR: 271.8 over 6 priced calls.
    assert (k.currency, k.company_currency) == ("EUR", "EUR")
    assert k.total_cents == pytest.approx(271.8) and k.per_call_cents == pytest.approx(45.3)
    assert k.per_booked_cents == pytest.approx(271.8)  # one booked call
    assert [(c.currency, c.total_cents, c.rate, c.converted_cents) for c in k.by_currency] == [
        ("USD", 290, "0.92", pytest.approx(266.8)),
        ("EUR", 5, None, 5.0),
    ]
    assert [(x.source, x.target, x.rate, x.origin) for x in k.rates] == [("USD", "EUR", "0.92", "config")]
    assert k.source_currency is None and k.missing_rates == []  # two billing currencies
    p = r.previous.costs  # 100 + 50 USD, 2 calls, 1 booked
    assert (p.total_cents, p.per_call_cents, p.per_booked_cents) == (
        pytest.approx(138),
        pytest.approx(69),
        pytest.approx(138),
    )
    assert (p.source_currency, p.source_total_cents, p.source_per_call_cents, p.rate) == ("USD", 150, 75, "0.92")
    # Anna: C1 120 + C2 30 + C3 90 USD = 220.8 EUR, + C7 5 EUR; Ben: C4 10 + C5 40 USD = 46 EUR.
    assert {x.name: x.cost_cents for x in r.per_rep} == {
        "Anna Adler": pytest.approx(225.8),
        "Ben Berg": pytest.approx(46),
    }
    assert {x.provider: (x.cost_cents, x.per_call_cents) for x in r.per_provider} == {
        "retell": (pytest.approx(143), pytest.approx(143 / 3)),
        "vapi": (pytest.approx(92), pytest.approx(46)),
        "bland": (pytest.approx(36.8), pytest.approx(36.8)),
    }
    assert {x.campaign: x.cost_cents for x in r.per_campaign} == {
        "Winter": pytest.approx(138),
        "Newsletter": pytest.approx(87.8),
        "Spring": pytest.approx(46),
    }

    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(render_pdf(r, "de"))).pages)
    text = re.sub(r"\s+", " ", text.replace("\xa0", " ").replace("\u202f", " "))
    assert "Kosten gesamt 2,72 € 1,38 € (1,50 $ zu 0,92)" in text
    assert "Je Anruf 0,45 € 0,69 € (0,75 $ zu 0,92)" in text
    assert "Kosten in EUR umgerechnet: 1 USD = 0,92 EUR." in text
    assert "USD 2,90 $ 5 0,58 $ 0,92 2,67 €" in text  # as billed, rate, in EUR
    assert "Anna Adler 2 5 40,0 % 2 1 50,0 % 1 2,26 €" in text
    english = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(render_pdf(r, "en"))).pages)
    assert "€2.72" in english and "Costs converted into EUR: 1 USD = 0.92 EUR." in english


def test_without_a_rate_costs_stay_as_billed_and_say_why(ctx, app):
    seed_reference()  # USD and EUR calls, no rate
    r = compute(daily(DAY), now=NOW)
    k = r.current.costs
    assert (k.currency, k.total_cents, k.missing_rates, k.rates) == ("USD", 290, ["USD"], [])
    assert [(c.currency, c.converted_cents) for c in k.by_currency] == [("USD", 290.0), ("EUR", None)]
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(render_pdf(r, "de"))).pages)
    text = re.sub(r"\s+", " ", text.replace("\xa0", " "))
    assert "Kein Wechselkurs USD→EUR: die Kosten stehen in USD, wie abgerechnet" in text


def test_a_currency_without_a_rate_is_left_out_of_the_totals(ctx, app):
    set_settings(app, "reports", fx_rates="EUR:USD=1.25")  # USD→EUR by the inverse: 0.8
    lead = Lead(first_name="Rita", source="website")
    db.session.add(lead)
    db.session.flush()
    start = daily(DAY).start
    for n, (cost, currency) in enumerate(((100, "USD"), (100, "USD"), (70, "GBP"))):
        db.session.add(
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="retell",
                provider_ref=f"fx-{n}",
                status="ended",
                outcome="booked",
                started_at=start + timedelta(hours=10 + n),
                cost_cents=cost,
                currency=currency,
                data={"answered": True},
            )
        )
    db.session.commit()
    k = compute(daily(DAY), now=NOW).current.costs
    assert (k.currency, k.total_cents, k.per_call_cents, k.per_booked_cents) == (
        "EUR",
        pytest.approx(160),
        pytest.approx(80),
        pytest.approx(160 / 3),
    )
    assert k.missing_rates == ["GBP"] and k.rates[0].origin == "inverse of config"
    assert (k.source_currency, k.source_per_call_cents) == ("USD", 100)  # the one converted currency
    assert [(c.currency, c.converted_cents) for c in k.by_currency] == [("USD", pytest.approx(160)), ("GBP", None)]
