"""The PDF: its text (pypdf) holds the reference figures in German, English and French, every page renders to
PNG with pdftoppm, long tables repeat their header, an empty period gives a short clear report."""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest
from pypdf import PdfReader

from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.reports.kpis import compute
from crm.reports.pdf import Branding, branding, render_pdf, render_report
from crm.reports.periods import period_for
from crm.tenancy.context import company_scope
from tests.conftest import TEST_COMPANY_ID, _wipe, make_test_secrets
from tests.reports.seed import seed_reference

COMPANY = "Nordlicht Vertrieb GmbH"
_cache: dict = {}


@pytest.fixture(scope="module")
def reference(migrated_urls):
    """The KpiReport of 2026-01-15 from the reference seed (SQLite; the KPIs are tested on both databases)."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["sqlite"]}, secrets=make_test_secrets())
    _wipe(app)
    # A module fixture runs before the test's default company scope (tests/conftest.py): enter it here.
    with app.app_context(), company_scope(TEST_COMPANY_ID):
        seed_reference()
        report = compute(period_for("daily", date(2026, 1, 15)), now=datetime(2026, 1, 15, 17, 5, tzinfo=UTC))
        db.session.remove()
    _wipe(app)
    return report


@pytest.fixture(scope="module")
def brand(tmp_path_factory) -> Branding:
    logo = tmp_path_factory.mktemp("logo") / "logo.svg"
    logo.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
        '<rect width="40" height="20" fill="#c00"/></svg>'
    )
    env = {"LEADCHAIN_COMPANY_NAME": COMPANY, "LEADCHAIN_COMPANY_LOGO": str(logo)}
    return branding(Settings.from_env(env).reports)  # from the environment's variables, as in production


def pdf(reference, brand, lang: str) -> bytes:
    key = (lang, id(reference))
    if key not in _cache:
        _cache[key] = render_pdf(reference, lang, brand=brand)
    return _cache[key]


def text_of(content: bytes) -> tuple[list[str], str]:
    pages = [
        re.sub(r"\s+", " ", (p.extract_text() or "").replace("\xa0", " ").replace("\u202f", " "))
        for p in PdfReader(io.BytesIO(content)).pages
    ]
    return pages, " ".join(pages)


def test_german_pdf_holds_the_figures(reference, brand):
    content = pdf(reference, brand, "de")
    assert content.startswith(b"%PDF")
    pages, text = text_of(content)
    for expected in [
        COMPANY,
        "Tagesbericht",
        "Donnerstag, 15. Januar 2026",
        "Vergleich mit Mittwoch, 14. Januar 2026",
        # headline tiles: value, previous value, change
        "Neue Leads 3 Vorperiode: 2 · +50 %",
        "Anrufe 8 Vorperiode: 2 · +300 %",
        "Erreichungsquote 50,0 % Vorperiode: 100,0 % · -50,0 Pp.",
        "Qualifiziert 66,7 %",
        "Ø Gesprächsdauer 2:26 min",
        "Buchungsquote 33,3 %",
        "Kosten je Anruf 0,58 $ Vorperiode: 0,75 $",
        "Kosten je Termin 2,90 $",
        "E-Mails gesendet 6",
        "Öffnungsrate 66,7 %",
        # sections
        "Median Gesprächsdauer 2:00 min 2:30 min",
        "Mailbox-Quote (1) 12,5 %",
        "Kai Kurz",
        "Emil Eck",
        "Rückruf gewünscht",
        "Bitte nicht mehr anrufen.",
        "Anna Adler",
        "Ben Berg",
        "retell",
        "Newsletter",
        "Zugestellt 3 50,0 %",
        "Abgemeldet 1 33,3 %",
        "EUR 0,05 €",
    ]:
        assert expected in text, expected
    assert f"Seite 1 von {len(pages)}" in pages[0] and f"Seite {len(pages)} von {len(pages)}" in pages[-1]


def test_english_pdf_holds_the_figures(reference, brand):
    pages, text = text_of(pdf(reference, brand, "en"))
    for expected in [
        COMPANY,
        "Daily report",
        "Thursday, 15 January 2026",
        "Compared with Wednesday, 14 January 2026",
        "New leads 3 Previous: 2 · +50%",
        "Answer rate 50.0% Previous: 100.0% · -50.0 pp",
        "Avg talk time 2:26 min",
        "Booking conversion 33.3%",
        "Cost per call US$0.58",
        "Cost per booking US$2.90",
        "Open rate 66.7%",
        "Callback requested",
        "Follow-up potential",
        "Kai Kurz",
        "Delivered 3 50.0%",
    ]:
        assert expected in text, expected
    assert f"Page 1 of {len(pages)}" in pages[0]


def test_french_pdf_holds_the_figures(reference, brand):
    """fr_FR formats (decimal comma, "%" after a space, day before month), French words on every page and
    none of the English or German of the headings and labels it shows."""
    pages, text = text_of(pdf(reference, brand, "fr"))
    for expected in [
        COMPANY,
        "Rapport quotidien",
        "jeudi 15 janvier 2026",
        "Comparé à mercredi 14 janvier 2026",
        "Nouveaux leads 3 Précédent: 2 · +50 %",
        "Taux de réponse 50,0 % Précédent: 100,0 % · -50,0 pts",
        "Durée moy. de conversation 2:26 min",
        "Conversion en rendez-vous 33,3 %",
        "Coût par appel 0,58 $US Précédent: 0,75 $US",
        "Taux d'ouverture 66,7 %",
        "Chaînes par étape (leads de la période)",
        "Rappel demandé",
        "Potentiel de relance (souhaité, non pris)",
        "Kai Kurz #2 Kurz & Co Intéressé 15/01/2026 10:45",
        "Distribués 3 50,0 %",
        "Annexe : définitions des indicateurs",
    ]:
        assert expected in text, expected
    assert f"Page 1 sur {len(pages)}" in pages[0] and f"Page {len(pages)} sur {len(pages)}" in pages[-1]
    for word in ("Daily report", "New leads", "Answer rate", "Callback requested", "Previous", "Tagesbericht"):
        assert word not in text, word


def test_every_page_renders_to_png(reference, brand, tmp_path):
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.fail("pdftoppm not found: install poppler-utils (scripts/system-deps.sh does)")
    for lang in ("de", "en", "fr"):
        content = pdf(reference, brand, lang)
        source = tmp_path / f"report-{lang}.pdf"
        source.write_bytes(content)
        pages = len(PdfReader(io.BytesIO(content)).pages)
        result = subprocess.run(
            [pdftoppm, "-r", "40", "-png", str(source), str(tmp_path / lang)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0 and not result.stderr.strip(), result.stderr
        pngs = sorted(tmp_path.glob(f"{lang}-*.png"))
        assert len(pngs) == pages >= 3
        assert all(p.read_bytes().startswith(b"\x89PNG") and p.stat().st_size > 1000 for p in pngs)


def test_long_tables_break_across_pages_with_their_header(reference, brand):
    base = reference.critical_calls[0]
    many = [
        dataclasses.replace(
            base,
            interaction_id=1000 + i,
            lead_name=f"Kritisch Nummer {i:02d}",
            at=base.at - timedelta(minutes=i),
            summary="Sehr verärgert, " * 6,
        )
        for i in range(50)
    ]
    long = dataclasses.replace(
        reference,
        critical_calls=many,
        current=dataclasses.replace(reference.current, calls=dataclasses.replace(reference.current.calls, critical=64)),
    )
    pages, text = text_of(render_pdf(long, "de", brand=brand))
    holding = [i for i, p in enumerate(pages) if "Kritisch Nummer" in p]
    assert len(holding) >= 2, "the critical calls table should need more than one page"
    header = "Zeit Lead Betreuer Anbieter Ergebnis Stimmung Dauer Zusammenfassung"
    assert all(header in pages[i] for i in holding)  # thead repeated on every page it spans
    assert "Die 50 neuesten von 64 kritischen Anrufen." in text
    assert all(f"Kritisch Nummer {i:02d}" in text for i in range(50))


def test_empty_period_gives_a_short_clear_report(ctx, brand):
    content = render_report("weekly", date(2026, 2, 11), "de")
    pages, text = text_of(content)
    # One page of figures, then the appendix with the definitions (tests/reports/test_definitions.py).
    assert "Anhang, Seite 2" in pages[0] and all(
        "Anhang: Definitionen der Kennzahlen" in p or "Kennzahl Definition" in p for p in pages[1:]
    )
    assert "Wochenbericht" in text and "KW 7 · 9.–15. Feb. 2026" in text
    assert "Keine Daten in diesem Zeitraum" in text
    assert "Neue Leads 0 Vorperiode: 0 · –" in text and "Erreichungsquote – Vorperiode: – · –" in text


def test_unsupported_language_is_refused(ctx):
    with pytest.raises(ValueError):
        render_report("daily", date(2026, 1, 15), "it")


def test_cli_writes_the_pdf_with_progress(app, tmp_path):
    from rich.console import Console

    from crm.reports.cli import report_command

    out = io.StringIO()
    target = report_command(
        "monthly",
        "2026-02-11",
        tmp_path / "out" / "feb.pdf",
        "en",
        app=app,
        console=Console(file=out, width=100, force_terminal=False),
    )
    assert target.read_bytes().startswith(b"%PDF")
    _, text = text_of(target.read_bytes())
    assert "Monthly report" in text and "February 2026" in text and "No data in this period" in text
    assert "4/4" in out.getvalue() and "February 2026" in out.getvalue()
    with pytest.raises(ValueError):
        report_command("yearly", "2026-02-11", tmp_path / "x.pdf", "en", app=app)
