"""Import a CSV export row by row through the same validation and intake as the API.

Each row is its own unit (a savepoint): a bad row is rejected with its reasons, the good ones land.

Committed imports (the CLI) go in batches of BATCH_ROWS rows, one short transaction each, so other
writers of the same SQLite file (web, workers, voice bridge) get their turn between batches. A batch
the database refuses for lock contention is rolled back and tried again (LOCK_ATTEMPTS, backoff
LOCK_WAIT_S). The report counts a batch only once it is committed: when the import stops (another
error, Ctrl+C) the report says which rows are done (`done`, up to `last_line`), and running the same
file again finishes the rest: the rows already imported are found by the dedupe and count as duplicates.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
import sqlalchemy as sa
from marshmallow import ValidationError

from crm.extensions import db
from crm.privacy import suppression
from crm.schemas.lead import WebFormLeadSchema
from crm.services import intake, submissions
from crm.services.csv_reader import CsvFile, CsvFormatError, CsvRow, read_csv
from crm.services.lock_retry import is_lock_contention, retrying_on_lock

__all__ = ["CsvFormatError", "ImportReport", "SOURCE", "import_rows", "infer_region", "parse", "stop_reason"]

SOURCE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# About half a second of intake on a laptop: the write lock is never held long, the commits stay few.
BATCH_ROWS = 25
# A batch waits out the busy timeout (30 s on SQLite) on every try before it counts as refused.
LOCK_ATTEMPTS = 5
LOCK_WAIT_S = (0.5, 8.0)


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
    # Rows whose outcome is committed (with commit=False: processed), and the spreadsheet line of the last.
    done: int = 0
    last_line: int | None = None
    # Batches that met a locked database and were rolled back to be tried again.
    retried_batches: int = 0

    @property
    def complete(self) -> bool:
        return self.done == self.total

    def absorb(self, batch: ImportReport) -> None:
        """Count a batch's rows (once it is committed)."""
        self.created += batch.created
        self.updated += batch.updated
        self.duplicates += batch.duplicates
        self.flagged += batch.flagged
        self.rejected.extend(batch.rejected)
        self.warnings.extend(batch.warnings)
        self.lead_ids.extend(batch.lead_ids)
        self.done += batch.done
        self.last_line = batch.last_line or self.last_line

    def as_dict(self, include_rejected: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "total": self.total,
            "created": self.created,
            "updated": self.updated,
            "duplicates": self.duplicates,
            "flagged": self.flagged,
            "rejected": len(self.rejected),
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


def import_rows(
    file: CsvFile,
    *,
    actor: str,
    default_source: str = "import",
    region: str | None = None,
    default_region: str = "DE",
    fuzzy_threshold: float = 90.0,
    commit: bool = True,
    progress: Callable[[int], None] | None = None,
    report: ImportReport | None = None,
) -> ImportReport:
    """Import every row. With `commit`, in committed batches (see the module's docstring); pass your own
    `report` to read how far an import got when it raises. Without `commit` (the API's all-or-nothing
    request), every row goes into the caller's transaction, which the caller commits or rolls back."""
    report = report if report is not None else ImportReport()
    report.total = len(file.rows)
    report.region = (region or infer_region(file, default_region)).upper()
    schema = WebFormLeadSchema(default_region=report.region, default_source=default_source)

    def run(rows: list[CsvRow]) -> ImportReport:
        return _import_batch(rows, schema, default_source, actor, fuzzy_threshold)

    if not commit:
        report.absorb(run(file.rows))
        if progress:
            progress(len(file.rows))
        return report
    for start in range(0, len(file.rows), BATCH_ROWS):
        batch = file.rows[start : start + BATCH_ROWS]
        report.absorb(_commit_batch(batch, run, report))
        if progress:
            progress(len(batch))
    return report


def _commit_batch(
    rows: list[CsvRow], run: Callable[[list[CsvRow]], ImportReport], report: ImportReport
) -> ImportReport:
    """One batch in one transaction: committed whole, or rolled back whole (and retried on lock
    contention). Whatever stops it leaves no row of it behind, so the report's count stays true."""
    for attempt in retrying_on_lock(LOCK_ATTEMPTS, LOCK_WAIT_S, f"import batch from line {rows[0].line}"):
        with attempt:
            if attempt.retry_state.attempt_number == 2:
                report.retried_batches += 1
            try:
                batch = run(rows)
                db.session.commit()
            except BaseException:
                # Ctrl+C included: the batch's transaction must not stay open (it holds the write lock).
                db.session.rollback()
                raise
    return batch


def _import_batch(
    rows: list[CsvRow], schema: WebFormLeadSchema, default_source: str, actor: str, fuzzy_threshold: float
) -> ImportReport:
    tally = ImportReport(total=len(rows))
    for row in rows:
        data = dict(row.fields)
        data["source"] = _source_slug(data.get("source"), default_source)
        try:
            lead = schema.load(data)
        except ValidationError as e:
            tally.rejected.append((row, _reasons(e.normalized_messages())))
        else:
            _ingest_row(tally, row, lead, actor, fuzzy_threshold)
        tally.done += 1
        tally.last_line = row.line
    return tally


def stop_reason(error: BaseException) -> str | None:
    """Why an import stopped, for the person running it: Ctrl+C or a database error. None for anything
    else (a missing secret, a bug), which the caller lets through to its own handler. Database messages
    are shown without the statement and its parameters, which hold the row's personal data."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (Ctrl+C)"
    if isinstance(error, sa.exc.DBAPIError):
        message = (str(error.orig).strip().splitlines() or [type(error.orig).__name__])[0][:200]
        if is_lock_contention(error):
            return f"{message}: other processes kept the database busy through {LOCK_ATTEMPTS} tries of one batch"
        return f"{message} ({type(error.orig).__name__})"
    return None


def _ingest_row(report: ImportReport, row: CsvRow, lead, actor: str, fuzzy_threshold: float) -> None:
    hits = suppression.matches(lead.email_key, lead.phone.e164 if lead.phone else None)
    if hits:
        # An erased person (docs/privacy.md): never imported again; the row is reported, nothing stored.
        report.rejected.append((row, [f"{kind}: on the suppression list" for kind in hits]))
        return
    try:
        with db.session.begin_nested():
            result = intake.ingest(lead, actor=actor, fuzzy_threshold=fuzzy_threshold)
            # The intake ran here (the summary needs it); the chain still gets the lead.
            submissions.submit_processed(
                result.lead_id, submissions.chain_id_for(lead), result, source=lead.source, channel="csv", actor=actor
            )
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
