"""Importing the sample exports in tests/data, on SQLite and PostgreSQL.

Expected counts are worked out from the files here (by reading them with the csv module and simple rules),
not by the importer's own code.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter

import sqlalchemy as sa
from click.testing import CliRunner

from crm.extensions import db
from crm.models import AuditEntry, ConsentRecord, Interaction, Lead, PossibleDuplicate
from crm.services import csv_import
from tests.conftest import SHARED_DATA

GERMAN = SHARED_DATA / "leads_excel_de.csv"
WEB = SHARED_DATA / "leads_web_export.csv"


def german_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(GERMAN.read_bytes().decode("cp1252")), delimiter=";"))


def web_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(WEB.read_bytes().decode("utf-8-sig"))))


def expected_german() -> dict[str, int]:
    rows = german_rows()
    # The data README lists the broken rows; recognise them by their own content.
    bad = [
        r
        for r in rows
        if (r["E-Mail"] and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", r["E-Mail"], re.I))
        or not (r["E-Mail"] or r["Telefon"])
    ]
    good = [r for r in rows if r not in bad]
    seen_email, seen_phone, created, merged = set(), set(), 0, 0
    for r in good:
        email = r["E-Mail"].lower()
        email_key = re.sub(r"\+[^@]*@", "@", email) if email else None
        phone = re.sub(r"\D", "", r["Telefon"]).removeprefix("0049").removeprefix("49").lstrip("0")
        if (email_key and email_key in seen_email) or (phone and phone in seen_phone):
            merged += 1
        else:
            created += 1
        seen_email.add(email_key)
        seen_phone.add(phone)
    unverified = sum(1 for r in good if re.fullmatch(r"0151 2881\d{3}", r["Telefon"]))
    return {"rows": len(rows), "rejected": len(bad), "created": created, "merged": merged, "unverified": unverified}


def test_german_excel_export(app):
    expected = expected_german()
    assert expected == {"rows": 128, "rejected": 3, "created": 122, "merged": 3, "unverified": 20}
    with app.app_context():
        report = csv_import.import_rows(csv_import.parse(GERMAN.read_bytes()), actor="test")
        assert report.total == expected["rows"]
        assert report.region == "DE"
        assert report.created == expected["created"]
        assert report.updated + report.duplicates == expected["merged"]
        assert report.flagged == 0
        assert len(report.warnings) == expected["unverified"]
        rejected = {row.line: reasons for row, reasons in report.rejected}
        assert set(rejected) == {125, 126, 127}
        assert any(r.startswith("email:") for r in rejected[125]) and any(
            r.startswith("created_at:") for r in rejected[125]
        )
        assert rejected[126] == ["an email address or a phone number is required"]
        assert any(r.startswith("phone:") for r in rejected[127]) and any(r.startswith("email:") for r in rejected[127])
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Lead)) == expected["created"]
        # Umlauts, markup and the 5,000-character note survive exactly.
        zoe = db.session.scalars(sa.select(Lead).where(Lead.email == "zoe.uenal@example.org")).one()
        assert zoe.first_name == "Zoë" and zoe.company == "Café Zoë"
        note = db.session.scalars(sa.select(Interaction).where(Interaction.lead_id == zoe.id)).one()
        assert len(note.summary) == len(next(r for r in german_rows() if r["Vorname"] == "Zoë")["Notiz"]) >= 5000
        bobby = db.session.scalars(sa.select(Lead).where(Lead.email == "bobby@example.org")).one()
        assert bobby.company == "<script>alert(1)</script>"
        # Consent: given for ja / Ja (Formular) / x, not for nein or empty; one record per lead.
        consenting = {
            r["E-Mail"].lower()
            for r in german_rows()
            if r["Einwilligung Telefon"].strip().lower() in ("ja", "x", "ja (formular)")
            and r["E-Mail"]
            and "@" in r["E-Mail"]
            and "+" not in r["E-Mail"]
            and r["Nachname"] != "Mustermann"
            and r["Vorname"] != "Erika"
        }
        with_consent = set(
            db.session.scalars(sa.select(Lead.email).join(ConsentRecord, ConsentRecord.lead_id == Lead.id))
        )
        assert with_consent == consenting
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentRecord)) == len(consenting)


def test_web_export_with_us_numbers(app):
    rows = web_rows()
    no_contact = [r for r in rows if not r["email"] and not r["phone"]]
    people = Counter((r["first_name"], r["last_name"], r["company"]) for r in rows if r not in no_contact)
    expected_flagged_rows = sum(n - 1 for key, n in people.items() if n > 1 and key[2])
    with app.app_context():
        report = csv_import.import_rows(csv_import.parse(WEB.read_bytes()), actor="test")
        assert report.region == "US"
        assert (report.total, len(report.rejected)) == (len(rows), len(no_contact)) == (62, 1)
        assert report.created == 61
        assert report.flagged == expected_flagged_rows == 7
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PossibleDuplicate)) == 8  # David Wilson ×3
        nyc = db.session.scalars(sa.select(Lead).where(Lead.email == "john.brown51@umbrella.com")).one()
        assert nyc.phone_e164 == "+12125550151" and nyc.phone_timezone == "America/New_York"
        assert nyc.language == "en" and nyc.utm_campaign == "spring_promo"


def test_importing_both_twice_changes_nothing(app):
    with app.app_context():
        for path in (GERMAN, WEB):
            csv_import.import_rows(csv_import.parse(path.read_bytes()), actor="test")

        def state():
            return {
                m.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(m))
                for m in (Lead, ConsentRecord, Interaction, PossibleDuplicate, AuditEntry)
            }

        before = state()
        for path, total in ((GERMAN, 128), (WEB, 62)):
            report = csv_import.import_rows(csv_import.parse(path.read_bytes()), actor="test")
            assert (report.created, report.updated) == (0, 0)
            assert report.duplicates == total - len(report.rejected)
        assert state() == before


def test_cli_import_prints_summary_and_writes_rejects(app, tmp_path, monkeypatch):
    from workers import cli

    monkeypatch.setattr(cli, "_app", lambda: app)
    target = tmp_path / "leads_excel_de.csv"
    target.write_bytes(GERMAN.read_bytes())
    result = CliRunner().invoke(cli.main, ["import", str(target)])
    assert result.exit_code == 0, result.output
    assert "128/128" in result.output and "122" in result.output
    rejected = tmp_path / "leads_excel_de.rejected.csv"
    text = rejected.read_bytes().decode("utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert [r["line"] for r in lines] == ["125", "126", "127"]
    assert all(r["reasons"] for r in lines)
    bad = CliRunner().invoke(cli.main, ["import", str(target), "--region", "Germany"])
    assert bad.exit_code == 2 and "--region" in bad.output
