"""Read lead CSV exports the way sales teams actually receive them.

Lead lists arrive from German Excel (Windows-1252, ``;``, CRLF), from web form tools (UTF-8 with a
byte-order mark, ``,``), as tab-separated "Text" exports or pipe-separated dumps. This module turns
such bytes into a :class:`CsvFile`: the detected encoding and delimiter, the original headers, a
mapping of headers to canonical lead fields, and one :class:`CsvRow` per non-empty data row.

Values are only trimmed, never interpreted: phone numbers, dates, consent text, markup and SQL are
kept verbatim so that validation and normalisation happen in one place downstream, and so that
rejected rows can be written back out unchanged with :func:`write_rejected`.
"""

from __future__ import annotations

import csv
import io
import pathlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CANONICAL_FIELDS",
    "CsvFile",
    "CsvFormatError",
    "CsvRow",
    "canonical_field",
    "detect_delimiter",
    "detect_encoding",
    "read_csv",
    "write_rejected",
]


@dataclass(frozen=True)
class CsvRow:
    """One data row of the file."""

    # Spreadsheet row number: the header is row 1, the first data row is 2. Skipped blank rows are
    # still counted and a multi-line quoted cell is one row, so it matches the row Excel shows.
    line: int
    # Canonical field name -> trimmed value; empty values are left out so `"x" in fields` means
    # "the file gave us something for x".
    fields: dict[str, str]
    # Original header -> original (untrimmed) value, so rejected rows can be written back verbatim.
    # Cells beyond the last header are joined with the delimiter under the key "_extra".
    raw: dict[str, str]


@dataclass(frozen=True)
class CsvFile:
    """A parsed lead file."""

    encoding: str  # "utf-8-sig", "utf-8", "cp1252" or "latin-1"
    delimiter: str  # ";", ",", "\t" or "|"
    headers: list[str]  # original headers (BOM stripped; see read_csv for blank/duplicate names)
    mapping: dict[str, str]  # original header -> canonical field, only for recognised headers
    unknown_headers: list[str]  # headers that map to nothing; kept in raw, reported to the user
    rows: list[CsvRow]


class CsvFormatError(ValueError):
    """The data cannot be read as a lead CSV file; the message is meant for the end user."""


CANDIDATE_DELIMITERS: tuple[str, ...] = (";", ",", "\t", "|")
EXTRA_KEY = "_extra"

# Aliases are written in normalised form (see _normalise_header): lower case, umlauts spelled out,
# separators removed. The canonical name itself is always accepted as well.
_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("vorname", "firstname", "givenname", "forename"),
    "last_name": ("nachname", "name", "lastname", "surname", "familyname", "familienname"),
    "full_name": (
        "vollstaendigername",
        "fullname",
        "kontakt",
        "kontaktname",
        "contactname",
        "ansprechpartner",
    ),
    "company": (
        "firma",
        "firmenname",
        "unternehmen",
        "company",
        "companyname",
        "organisation",
        "organization",
        "account",
        "accountname",
    ),
    "email": ("email", "emailadresse", "emailaddress", "mail", "mailadresse"),
    "phone": (
        "telefon",
        "telefonnummer",
        "telefonnr",
        "tel",
        "telnr",
        "phone",
        "phonenumber",
        "telephone",
        "festnetz",
        "rufnummer",
    ),
    "mobile": (
        "mobil",
        "mobilnummer",
        "mobiltelefon",
        "handy",
        "handynummer",
        "mobile",
        "mobilenumber",
        "mobilephone",
        "cell",
        "cellphone",
    ),
    "source": ("quelle", "leadquelle", "source", "leadsource", "kanal", "channel"),
    "phone_consent": (
        "einwilligungtelefon",
        "telefoneinwilligung",
        "phoneconsent",
        "consentphone",
        "anrufeinwilligung",
    ),
    "email_consent": (
        "einwilligungemail",
        "emaileinwilligung",
        "emailconsent",
        "consentemail",
        "newsletter",
    ),
    "created_at": (
        "datum",
        "erstellt",
        "erstelltam",
        "erstellungsdatum",
        "anmeldedatum",
        "createdat",
        "created",
        "createddate",
        "date",
    ),
    "note": (
        "notiz",
        "notizen",
        "bemerkung",
        "bemerkungen",
        "kommentar",
        "kommentare",
        "nachricht",
        "note",
        "notes",
        "comment",
        "comments",
        "message",
    ),
    "country": ("land", "country"),
    "language": ("sprache", "language"),
    "utm_source": ("utmsource",),
    "utm_medium": ("utmmedium",),
    "utm_campaign": ("utmcampaign", "kampagne", "campaign"),
    "utm_term": ("utmterm",),
    "utm_content": ("utmcontent",),
    "interest": ("interesse", "interest"),
    "external_id": ("id", "externalid", "leadid"),
    "title": ("position", "titel", "jobtitle", "title"),
    "city": ("stadt", "ort", "wohnort", "city"),
    "postal_code": ("plz", "postleitzahl", "zip", "zipcode", "postalcode", "postcode"),
    "street": ("strasse", "street", "adresse", "anschrift", "address"),
}

CANONICAL_FIELDS: tuple[str, ...] = tuple(_ALIASES)

# Spreadsheet tools and form builders decorate headers with spaces, dashes, underscores, dots and
# "required" markers; none of them carries meaning for the mapping.
_SEPARATORS = re.compile(r"[\s\-_.:*]+")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
# Excel writes "sep=;" as the first line to pin the delimiter; Excel itself hides that line.
_SEP_HINT = re.compile(r"sep=(.)[ \t]*(?:\r\n|\r|\n|$)", re.IGNORECASE)
# Detection only needs the first records; parsing a bounded sample keeps it cheap for huge files.
_SAMPLE_CHARS = 64 * 1024
_SAMPLE_RECORDS = 200


def _normalise_header(header: str) -> str:
    # NFC first so that decomposed umlauts (u + combining diaeresis, as macOS writes them) are
    # caught by the umlaut table; then drop any other accents ("Téléphone" -> "telephone").
    text = unicodedata.normalize("NFC", header.replace("\ufeff", "")).lower()
    text = text.translate(_UMLAUTS)
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return _SEPARATORS.sub("", text)


def _build_alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for field, aliases in _ALIASES.items():
        for alias in (_normalise_header(field), *aliases):
            # Fail at import rather than map a header silently to whichever field came last.
            if index.setdefault(alias, field) != field:
                raise RuntimeError(f"alias {alias!r} maps to {index[alias]} and {field}")
    return index


_ALIAS_INDEX: dict[str, str] = _build_alias_index()


def canonical_field(header: str) -> str | None:
    """Return the canonical field for a column header, or None if the header is not recognised.

    Matching ignores case, surrounding and inner separators (space, ``-``, ``_``, ``.``, and the
    ``:``/``*`` decorations of form tools) and spells umlauts out, so "E-Mail-Adresse",
    "email_address" and "Straße"/"Strasse" are all recognised.
    """
    key = _normalise_header(header)
    if not key:
        return None
    return _ALIAS_INDEX.get(key)


def detect_encoding(data: bytes) -> str:
    """Name the codec for ``data``: "utf-8-sig", "utf-8", "cp1252" or "latin-1".

    The rule is deterministic: a UTF-8 byte-order mark wins; otherwise bytes that are valid UTF-8
    are UTF-8 (legacy 8-bit text with umlauts practically never is); otherwise Windows-1252, which
    is what Excel writes on German Windows; and latin-1 only if the bytes use one of the five
    positions cp1252 leaves undefined. Raises CsvFormatError for binary data (NUL bytes).
    """
    # Text exports never contain NUL; workbooks, images, PDFs and UTF-16 files always do.
    if b"\x00" in data:
        raise CsvFormatError(_binary_message(data))
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    try:
        # cp1252 and latin-1 differ only in 0x80-0x9F: printable characters (€ „ “ – …) in cp1252,
        # invisible C1 control codes in latin-1. Real text means cp1252 whenever it decodes.
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def _binary_message(data: bytes) -> str:
    # A precise hint saves a support round-trip: these are the usual "wrong file" uploads.
    if data.startswith(b"PK\x03\x04"):
        return "this is an Excel workbook or other ZIP file, not CSV; save it as 'CSV UTF-8'"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return "this is an old Excel workbook (.xls), not CSV; save it as 'CSV UTF-8'"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "this file is UTF-16 ('Unicode text'); save it as 'CSV UTF-8' instead"
    return "this is a binary file, not CSV text (it contains NUL bytes)"


def _is_blank(cells: list[str]) -> bool:
    # One C-level join instead of a generator per cell: this runs once per row of large files.
    return not "".join(cells).strip()


def _fits(cells: list[str], width: int) -> bool:
    # Some exporters end every data line with a delimiter; empty surplus cells still fit.
    if len(cells) == width:
        return True
    return len(cells) > width and not any(cell.strip() for cell in cells[width:])


def _trimmed_width(cells: list[str]) -> int:
    width = len(cells)
    while width and not cells[width - 1].strip():
        width -= 1
    return width


def detect_delimiter(sample: str) -> str:
    """Pick the delimiter among ``;``, ``,``, TAB and ``|`` from the start of a file.

    Each candidate splits the sample with the csv module (so quoted delimiters and line breaks are
    respected). A candidate must give the header at least two columns; among those the one whose
    data rows most often have exactly the header's column count wins, then the one with more
    columns, then the order ``; , TAB |``. Without any candidate (a one-column file), ``,``.
    """
    best: tuple[float, int, int] | None = None
    chosen = ","
    for priority, delimiter in enumerate(CANDIDATE_DELIMITERS):
        records = _sample_records(sample, delimiter)
        if not records:
            continue
        width = _trimmed_width(records[0])
        if width < 2:
            continue
        data = records[1:]
        consistency = sum(_fits(r, width) for r in data) / len(data) if data else 1.0
        score = (consistency, width, -priority)
        if best is None or score > best:
            best, chosen = score, delimiter
    return chosen


def _sample_records(sample: str, delimiter: str) -> list[list[str]]:
    records: list[list[str]] = []
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
    try:
        for cells in reader:
            if _is_blank(cells):
                continue
            records.append(cells)
            if len(records) >= _SAMPLE_RECORDS:
                break
    except csv.Error:
        # A wrong delimiter can make a field look absurd; what was parsed so far still counts.
        pass
    return records


def _decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        # Only reachable for a BOM file with non-UTF-8 bytes (e.g. two exports pasted together).
        line = data.count(b"\n", 0, exc.start) + 1
        raise CsvFormatError(f"the file starts with a UTF-8 marker but line {line} is not valid UTF-8") from exc


def _split_sep_hint(text: str) -> tuple[str | None, str]:
    match = _SEP_HINT.match(text)
    if match and match.group(1) in CANDIDATE_DELIMITERS:
        return match.group(1), text[match.end() :]
    return None, text


def _detection_sample(text: str) -> str:
    if len(text) <= _SAMPLE_CHARS:
        return text
    sample = text[:_SAMPLE_CHARS]
    # Cut at a line end so the last sampled record is not a torn fragment.
    cut = max(sample.rfind("\n"), sample.rfind("\r"))
    return sample[: cut + 1] if cut > 0 else sample


def _unique_headers(cells: list[str]) -> list[str]:
    headers: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(cells, start=1):
        # raw is keyed by header, so every column needs a distinct, non-empty key to survive.
        name = cell if cell.strip() else f"column_{position}"
        candidate, n = name, 2
        while candidate in seen:
            candidate, n = f"{name} ({n})", n + 1
        seen.add(candidate)
        headers.append(candidate)
    return headers


def read_csv(data: bytes) -> CsvFile:
    """Parse a lead CSV export.

    The first non-blank row is the header. Trailing empty header cells (a delimiter at the end of
    the header line) are ignored; a blank header cell inside the row is named ``column_N`` and a
    repeated unrecognised header gets `` (2)``, `` (3)`` appended, so every column has its own key
    in ``raw``. An Excel ``sep=`` first line is honoured and does not count as a row.

    Raises CsvFormatError for an empty or binary file, a file without a header row, a header with
    no recognised column, two columns that map to the same field, and a quoted cell that is never
    closed (it would otherwise swallow the rest of the file silently).
    """
    if not data:
        raise CsvFormatError("the file is empty")
    encoding = detect_encoding(data)
    text = _decode(data, encoding)
    text = text.removeprefix("\ufeff")  # in case a BOM survived, e.g. one per pasted export
    hinted, text = _split_sep_hint(text)
    delimiter = hinted or detect_delimiter(_detection_sample(text))

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    row_number = 0
    header_cells: list[str] | None = None
    try:
        for cells in reader:
            row_number += 1
            if not _is_blank(cells):
                header_cells = cells
                break
    except csv.Error as exc:
        raise CsvFormatError(f"the header row cannot be read: {exc}") from exc
    if header_cells is None:
        raise CsvFormatError("the file has no header row (it contains only blank lines)")
    header_cells = header_cells[: _trimmed_width(header_cells)]
    header_cells[0] = header_cells[0].removeprefix("\ufeff")
    headers = _unique_headers(header_cells)
    mapping, unknown = _map_headers(headers)
    rows = _read_rows(reader, headers, mapping, delimiter, row_number)
    _check_unclosed_quote(text, rows)
    return CsvFile(
        encoding=encoding,
        delimiter=delimiter,
        headers=headers,
        mapping=mapping,
        unknown_headers=unknown,
        rows=rows,
    )


def _map_headers(headers: list[str]) -> tuple[dict[str, str], list[str]]:
    mapping: dict[str, str] = {}
    owner: dict[str, str] = {}
    unknown: list[str] = []
    for header in headers:
        field = canonical_field(header)
        if field is None:
            unknown.append(header)
            continue
        if field in owner:
            # Guessing which of two "E-Mail" columns is the real one would silently lose data.
            raise CsvFormatError(
                f"the columns {owner[field]!r} and {header!r} both mean {field!r}; rename or remove one of them"
            )
        owner[field] = header
        mapping[header] = field
    if not mapping:
        raise CsvFormatError(
            "no column is recognised (expected headers such as Vorname, Nachname, E-Mail, "
            f"Telefon, Firma); the first row reads {headers!r}"
        )
    return mapping, unknown


def _read_rows(
    reader: Iterable[list[str]],
    headers: list[str],
    mapping: dict[str, str],
    delimiter: str,
    header_row: int,
) -> list[CsvRow]:
    width = len(headers)
    # Index pairs are resolved once; the per-row loop is the hot path for 100k-row files.
    targets = [(headers.index(header), field) for header, field in mapping.items()]
    rows: list[CsvRow] = []
    row_number = header_row
    try:
        for cells in reader:
            row_number += 1
            if not (cells and cells[0].strip()) and _is_blank(cells):
                continue
            count = len(cells)
            if count < width:
                cells = cells + [""] * (width - count)
            raw = dict(zip(headers, cells, strict=False))  # surplus cells are handled below
            if count > width and not _is_blank(cells[width:]):
                raw[EXTRA_KEY] = delimiter.join(cells[width:])
            fields = {field: value for index, field in targets if (value := cells[index].strip())}
            rows.append(CsvRow(line=row_number, fields=fields, raw=raw))
    except csv.Error as exc:
        # E.g. a cell over the csv module's 128 KiB limit, usually a runaway quote.
        raise CsvFormatError(f"row {row_number + 1} cannot be read: {exc}") from exc
    return rows


def _check_unclosed_quote(text: str, rows: list[CsvRow]) -> None:
    # The csv module silently lets an unclosed quote run to the end of the file, turning the rest
    # of the file into one cell. A properly quoted last cell is followed by its closing quote, so
    # a multi-line last cell that is a literal suffix of the text can only be an unclosed one.
    if not rows:
        return
    last = rows[-1]
    for value in last.raw.values():
        if ("\n" in value or "\r" in value) and not value.endswith('"') and text.endswith(value):
            raise CsvFormatError(
                f"row {last.line}: a quoted cell is never closed, so the rest of the file "
                "would be read as part of it; check the quotes in that row"
            )


def write_rejected(path: pathlib.Path, file: CsvFile, rejected: list[tuple[CsvRow, list[str]]]) -> None:
    """Write rejected rows to ``path`` so the user can fix them in Excel and import them again.

    The output is UTF-8 with a byte-order mark (Excel only detects UTF-8 with it), uses ``;`` if
    the input did (German Excel expects it) and ``,`` otherwise, and has the columns
    ``line``, the original headers, ``_extra`` (only if a rejected row had surplus cells) and
    ``reasons`` (joined with `` | ``). Values are written exactly as they were read.
    """
    delimiter = ";" if file.delimiter == ";" else ","
    with_extra = any(EXTRA_KEY in row.raw for row, _ in rejected)
    columns = [*file.headers, EXTRA_KEY] if with_extra else list(file.headers)
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["line", *columns, "reasons"])
        for row, reasons in rejected:
            writer.writerow([str(row.line), *(row.raw.get(c, "") for c in columns), " | ".join(reasons)])
