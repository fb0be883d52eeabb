"""An invoice as a PDF (WeasyPrint, A4) in the recipient's language (German or English).

§14 Abs. 4 UStG's mandatory fields, each on the page: the supplier's and the recipient's full name and
address, the supplier's VAT id, the issue date, the unique sequential number, quantity and kind of the
services, the service period, the net amount by rate, the rate and the tax amount (or, for reverse charge,
the note that the recipient owes the tax, with the recipient's VAT id)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from babel.dates import format_date
from babel.numbers import format_currency
from flask import current_app
from jinja2 import Environment, FileSystemLoader, select_autoescape

from crm.billing.metrics import parse_period
from crm.config import CompanySettings
from crm.models import Invoice

TEMPLATES = Path(__file__).resolve().parent / "templates"
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))

# The invoice's fixed wording per language: a legal document whose text must not change with a UI catalog
# edit, so it lives beside its template.
LABELS = {
    "de": {
        "invoice": "Rechnung",
        "number": "Rechnungsnummer",
        "issued": "Rechnungsdatum",
        "service_period": "Leistungszeitraum",
        "seller_vat_id": "USt-IdNr.",
        "recipient_vat_id": "USt-IdNr. des Leistungsempfängers",
        "item": "Leistung",
        "quantity": "Menge",
        "included": "Inklusive",
        "unit_price": "Einzelpreis",
        "amount": "Betrag",
        "net": "Nettobetrag",
        "vat": "Umsatzsteuer",
        "gross": "Gesamtbetrag",
        "directors": "Geschäftsführung",
        "reverse_charge": "Steuerschuldnerschaft des Leistungsempfängers (Reverse Charge, § 13b UStG).",
        "base_fee": "Grundgebühr",
        "call_placed": "Ausgehende Anrufe",
        "call_minutes": "Gesprächsminuten",
        "appointment_booked": "Gebuchte Termine",
        "email_sent": "Versendete E-Mails",
        "inbound_answered": "Angenommene eingehende Anrufe",
    },
    "en": {
        "invoice": "Invoice",
        "number": "Invoice number",
        "issued": "Invoice date",
        "service_period": "Service period",
        "seller_vat_id": "VAT ID",
        "recipient_vat_id": "Customer VAT ID",
        "item": "Service",
        "quantity": "Quantity",
        "included": "Included",
        "unit_price": "Unit price",
        "amount": "Amount",
        "net": "Net amount",
        "vat": "VAT",
        "gross": "Total",
        "directors": "Managing directors",
        "reverse_charge": "Reverse charge: the recipient is liable for VAT (Art. 196 VAT Directive).",
        "base_fee": "Base fee",
        "call_placed": "Outbound calls",
        "call_minutes": "Call minutes",
        "appointment_booked": "Appointments booked",
        "email_sent": "Emails sent",
        "inbound_answered": "Inbound calls answered",
    },
}


def _money(cents: int, locale: str) -> str:
    # Integer cents to the currency string via an exact decimal string: no float in between.
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return format_currency(f"{sign}{whole}.{rest:02d}", "EUR", locale=locale)


def render_html(invoice: Invoice, seller: CompanySettings) -> str:
    lang = str(invoice.recipient.get("language") or "de")
    lang = lang if lang in LABELS else "de"
    locale = "de_DE" if lang == "de" else "en_GB"
    labels = LABELS[lang]
    year, month = parse_period(invoice.period)
    first = date(year, month, 1)
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    lines = [
        {
            "label": labels.get(line["metric"], line["metric"]),
            "used": line["used"],
            "included": line["included"],
            "unit": _money(line["unit_price_cents"], locale),
            "amount": _money(line["amount_cents"], locale),
        }
        for line in invoice.lines
    ]
    return _ENV.get_template("invoice.html").render(
        lang=lang,
        t=labels,
        inv=invoice,
        seller=seller,
        issued=format_date(invoice.issued_at.date(), "medium", locale=locale),
        service_period=f"{format_date(first, 'medium', locale=locale)} – {format_date(last, 'medium', locale=locale)}",
        lines=lines,
        net=_money(invoice.net_cents, locale),
        vat=_money(invoice.vat_cents, locale),
        gross=_money(invoice.gross_cents, locale),
    )


def seller() -> CompanySettings:
    """The platform operator issues the invoices: the installation's configured imprint."""
    return current_app.config["LEADCHAIN"].email.company


def render_pdf(invoice: Invoice) -> bytes:
    from weasyprint import HTML  # noqa: PLC0415 - heavy import, only when a PDF is made

    return HTML(string=render_html(invoice, seller())).write_pdf()
