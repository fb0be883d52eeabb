"""A month's invoice: the sum of its usage to the cent, numbered gaplessly, issued once, §14 UStG fields."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.billing import invoicing, metering
from crm.billing.invoice_pdf import render_pdf
from crm.billing.pricing import PlanPrices, lines_for, reverse_charge_applies, totals_for
from crm.extensions import db
from crm.models import Invoice, UsageEvent
from tests.billing import sample_month

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def test_integer_cents_and_half_up_vat_without_drift():
    plan = PlanPrices(4900, {"call_placed": 33, "call_minutes": 7}, {"call_placed": 10})
    lines = lines_for(plan, {"call_placed": 1013, "call_minutes": 2999})
    assert [line.amount_cents for line in lines] == [4900, 1003 * 33, 2999 * 7]
    totals = totals_for(lines, reverse_charge=False)
    assert totals.net_cents == 4900 + 33099 + 20993
    assert totals.vat_cents == (58992 * 19 + 50) // 100 == 11208  # 11208.48 → 11208
    assert totals.gross_cents == 58992 + 11208
    assert totals_for(lines, reverse_charge=True).vat_cents == 0


@pytest.mark.parametrize(
    ("country", "vat_id", "business", "expected"),
    [
        ("AT", "ATU12345678", True, True),
        ("DE", "DE123456789", True, False),
        ("AT", None, True, False),
        ("AT", "ATU12345678", False, False),
        ("CH", "CHE123", True, False),
    ],
)
def test_reverse_charge_only_for_eu_businesses_abroad_with_a_vat_id(country, vat_id, business, expected):
    assert reverse_charge_applies(country, vat_id, business) is expected


def test_the_invoice_equals_its_usage_and_a_rerun_changes_nothing(ctx):
    sample_month.account(sample_month.plan())
    sample_month.facts(calls=5, emails=3)
    issued = invoicing.issue(sample_month.PERIOD)
    assert issued.created and issued.number.endswith("-000001")
    invoice = db.session.get(Invoice, issued.invoice_id)
    used = {}
    for total in metering.usage_of(sample_month.PERIOD):
        used[total.metric] = used.get(total.metric, 0) + total.quantity
    # 4900 base + (5-2)*35 calls + 10*12 minutes + 1*250 booking + 0 emails (100 included) + 1*40 inbound.
    assert invoice.net_cents == 4900 + 105 + 120 + 250 + 0 + 40
    assert invoice.net_cents == sum(line["amount_cents"] for line in invoice.lines)
    assert invoice.vat_cents == (invoice.net_cents * 19 + 50) // 100
    assert invoice.gross_cents == invoice.net_cents + invoice.vat_cents

    events_before = db.session.scalar(sa.select(sa.func.count()).select_from(UsageEvent))
    again = invoicing.issue(sample_month.PERIOD)
    assert (again.invoice_id, again.number, again.created) == (issued.invoice_id, issued.number, False)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UsageEvent)) == events_before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 1


def test_numbers_are_gapless_across_months(ctx):
    sample_month.account(sample_month.plan())
    numbers = [invoicing.issue(period).number for period in ("2026-09", "2026-10", "2026-10", "2026-11")]
    assert numbers == ["LC-2026-000001", "LC-2026-000002", "LC-2026-000002", "LC-2026-000003"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_sample_invoice_pdf_carries_the_mandatory_fields(ctx, tmp_path):
    sample_month.account(sample_month.plan(), language="de")
    sample_month.facts(calls=5, emails=3)
    invoice = db.session.get(Invoice, invoicing.issue(sample_month.PERIOD).invoice_id)
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(render_pdf(invoice))
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-singlefile", str(pdf), str(ARTIFACTS / "invoice-sample")], check=True
    )
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    for field in (
        "Leadchain GmbH",  # supplier's name
        "Friedrichstraße 100",  # and address
        "Testfirma GmbH",  # recipient's name
        "10115 Berlin",  # and address
        "DE000000000",  # supplier's VAT id
        "Rechnungsdatum",
        invoice.number,
        "Leistungszeitraum",
        "01.11.2026",
        "30.11.2026",
        "Ausgehende Anrufe",  # kind and quantity of the services
        "Nettobetrag",
        "Umsatzsteuer 19 %",
        "54,15",  # net 5415 cents
        "10,29",  # VAT 1028.85 → 1029 cents
        "64,44",  # gross
    ):
        assert field in text, field
