"""Import a CSV export row by row through the same validation and intake as the API.

Each row is its own unit (a savepoint): a bad row is rejected with its reasons, the good ones land.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import phonenumbers
import sqlalchemy as sa
from marshmallow import ValidationError

from crm.extensions import db
from crm.schemas.lead import WebFormLeadSchema
from crm.services import intake, submissions
from crm.services.csv_reader import CsvFile, CsvFormatError, CsvRow, read_csv

__all__ = ["CsvFormatError", "ImportReport", "SOURCE", "import_rows", "infer_region", "parse"]

SOURCE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
COMMIT_EVERY = 200


@dataclass
class ImportReport:
    total: int = 0
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    flagged: int = 0
    rejected: list[tuple[CsvRow, list[str]]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    region: str = "DE"
    lead_ids: list[int] = field(default_factory=list)

    def as_dict(self, include_rejected: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "total": self.total, "created": self.created, "updated": self.updated,
            "duplicates": self.duplicates, "flagged": self.flagged, "rejected": len(self.rejected),
            "region": self.region,
            "warnings": [{"line": line, "message": msg} for line, msg in self.warnings],
        }
        if include_rejected:
            body["rejected_rows"] = [{"line": row.line, "reasons": reasons} for row, reasons in self.rejected]
        return body


def parse(data: bytes) -> CsvFile:
    return read_csv(data)


def infer_region(file: CsvFile, default: str) -> str:
    """A file's home region: the country column, else the country codes of numbers written with '+'.
    A US export then reads '(212) 555-0151' as a US number, not as a broken German one."""
    votes: Counter[str] = Counter()
    for row in file.rows:
        country = row.fields.get("country", "").strip().upper()
        if len(country) == 2 and country.isalpha():
            votes[country] += 1
            continue
        for key in ("phone", "mobile"):
            raw = row.fields.get(key, "").strip()
            if raw.startswith(("+", "00")):
                digits = re.sub(r"\D", "", raw)
                digits = digits[2:] if raw.startswith("00") else digits
                for length in (1, 2, 3):
                    region = phonenumbers.region_code_for_country_code(int(digits[:length] or 0))
                    if region != "ZZ":
                        votes[region] += 1
                        break
                break
    if not votes:
        return default
    region, count = votes.most_common(1)[0]
    return region if count * 2 > sum(votes.values()) else default


def _source_slug(value: str | None, default: str) -> str:
    if not value:
        return default
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", value.strip().lower()).strip("_")[:64]
    return slug or default


def _reasons(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            name = "" if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            out.extend(_reasons(value, name))
        return out
    if isinstance(messages, list):
        out = []
        for m in messages:
            out.extend(_reasons(m, prefix))
        return out
    return [f"{prefix}: {messages}" if prefix else str(messages)]


def import_rows(file: CsvFile, *, actor: str, default_source: str = "import", region: str | None = None,
                default_region: str = "DE", fuzzy_threshold: float = 90.0, commit: bool = True,
                progress: Callable[[int], None] | None = None) -> ImportReport:
    report = ImportReport(total=len(file.rows))
    report.region = (region or infer_region(file, default_region)).upper()
    schema = WebFormLeadSchema(default_region=report.region, default_source=default_source)
    for i, row in enumerate(file.rows, 1):
        data = dict(row.fields)
        data["source"] = _source_slug(data.get("source"), default_source)
        try:
            lead = schema.load(data)
        except ValidationError as e:
            report.rejected.append((row, _reasons(e.normalized_messages())))
        else:
            _ingest_row(report, row, lead, actor, fuzzy_threshold)
        if commit and i % COMMIT_EVERY == 0:
            db.session.commit()
        if progress:
            progress(1)
    if commit:
        db.session.commit()
    return report


def _ingest_row(report: ImportReport, row: CsvRow, lead, actor: str, fuzzy_threshold: float) -> None:
    try:
        with db.session.begin_nested():
            result = intake.ingest(lead, actor=actor, fuzzy_threshold=fuzzy_threshold)
            # The intake ran here (the summary needs it); the chain still gets the lead.
            submissions.submit_processed(result.lead_id, submissions.chain_id_for(lead), result,
                                         source=lead.source, channel="csv", actor=actor)
    except (sa.exc.IntegrityError, sa.exc.DataError) as e:
        # One row the database refuses must not sink the file; it is reported instead.
        report.rejected.append((row, [f"could not be stored: {type(e.orig).__name__}"]))
        return
    report.lead_ids.append(result.lead_id)
    if result.outcome == "created":
        report.created += 1
    elif result.outcome == "updated":
        report.updated += 1
    else:
        report.duplicates += 1
    if result.flagged_duplicates:
        report.flagged += 1
    for warning in result.warnings:
        report.warnings.append((row.line, warning))
