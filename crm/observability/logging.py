"""Structured JSON logs with personal data and secrets redacted (docs/observability.md §4).

Every log record of the process, ours through structlog or the standard library's `logging` (Flask,
SQLAlchemy, the Temporal SDK), leaves through one formatter that

- replaces the value of every known personal or secret field (`email`, `phone`, `first_name`,
  `api_key`, `authorization`...) with ``[redacted]``, at any depth of a dict or list;
- replaces email addresses and phone numbers found anywhere in text (the message, an exception and its
  traceback, any other value) with ``[email]`` / ``[phone]``; phone numbers are found by `phonenumbers`
  (valid numbers only) outside dates, times, timestamps, decimals, durations, UUIDs/hex and ids, which
  stay readable (their digits would often make a "valid" number, e.g. fractional seconds);
- replaces tokens that look like credentials (``Bearer ...``, ``key_...``, ``sk-...``, ``SG.…``,
  ``api_key=...``) with ``[secret]``, and any secret value registered with `register_secret`.

Its own markers are left as they are, so redacting twice (a message built from redacted text, a value
passed through two processors) changes nothing.

Names can only be recognised by their field: a name inside free text is not found. Code therefore logs
ids (lead id, chain id), never a person's data, and passes anything else as a named field.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import IO, Any

import phonenumbers
import structlog

REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset(
    {
        "email",
        "e_mail",
        "to_email",
        "from_email",
        "phone",
        "phone_number",
        "to_number",
        "from_number",
        "customer_number",
        "mobile",
        "first_name",
        "last_name",
        "name",
        "full_name",
        "customer_name",
        "street",
        "address",
        "transcript",
        "summary",
        "notes",
        "password",
        "secret",
        "token",
        "api_key",
        "apikey",
        "x_api_key",
        "authorization",
        "cookie",
        "set_cookie",
        "webhook_secret",
        "signature",
    }
)
# Our own replacement markers: a value that already is one is not redacted again ("[secret]" read as the
# value of `password:` would become "[redacted]]", the field pattern stopping at the first "]").
_MARKER = r"\[(?:secret|redacted|email|phone)\]"
_NOT_MARKER = rf"(?!{_MARKER})"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_E164 = re.compile(r"\+\d{8,15}\b")
_SECRET_PATTERNS = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\b(?:key|sk|pk|rk)[_-][A-Za-z0-9_-]{12,}"),
    re.compile(r"\bSG\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    re.compile(rf"(?i)\b(api[_-]?key|token|password|secret)(\"?\s*[=:]\s*\"?){_NOT_MARKER}[^\s\"',;&]+"),
)
# A known field inside text: JSON ("first_name": "Ada"), a repr ('first_name': 'Ada') or key=value.
_FIELD_IN_TEXT = re.compile(
    r"(?i)([\"']?\b(?:"
    + "|".join(sorted((k for k in SENSITIVE_KEYS if k not in ("signature", "address")), key=len, reverse=True))
    + r")\b[\"']?\s*[:=]\s*)"
    + _NOT_MARKER
    + r"(\"[^\"]*\"|'[^']*'|[^\s,;&}\]]+)"
)
# Digits that are not a phone number although `phonenumbers` may find a valid one in them (the six digits
# of fractional seconds are a valid German number). Phone numbers are only looked for between these.
_NOT_PHONE = re.compile(
    "|".join(
        (
            _MARKER,
            # ISO date, optionally with time, fraction and offset: 2026-12-06T18:16:12.123456+00:00
            r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?",
            # German date, optionally with time: 06.12.2026 18:16:12,123
            r"\b\d{1,2}\.\d{1,2}\.\d{2,4}(?:,?\s\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)?",
            # clock time or timedelta, optionally with fraction: 18:16:12.123456, 2:04:05.920071
            r"\b\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?",
            # a decimal (seconds, a Unix timestamp): 1737961522.332373, 0.1234567 (not 030.1234567)
            r"(?<![\d+./-])(?:0|[1-9]\d*)\.\d+(?![\d.])",
            # ISO 8601 duration: PT1H2M3.5S
            r"\bP(?:\d+[YMWD])*T(?:\d+(?:\.\d+)?[HMS])+\b",
            # UUIDs and hex ids (trace ids, hashes): at least one letter a-f among 8+ hex digits
            r"(?i:\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b)",
            r"(?i:\b(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b)",
            # a named id: lead_id=0171234567, "chain_id": "...", id 12345678
            r"(?i:\b(?:[a-z]+_)?ids?\b[\"']?\s*[:=]?\s*[\"']?\d+)",
            # an identifier starting with a letter, digits joined by - or _: chain-lead-01712345678, INV-2026-00123
            r"\b[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*[-_]\d[A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*",
            # datetime's repr: datetime.datetime(2026, 12, 6, 18, 16, 12, 123456, ...)
            r"\b(?:datetime\.)?(?:datetime|timedelta|time)\([\d,\s]+",
            # a timedelta's or protobuf Duration's fields: timedelta(seconds=41431, microseconds=399930)
            r"\b(?:days|seconds|microseconds|milliseconds|nanos)\s*[=:]\s*\d+",
        )
    )
)
_DIGITS = re.compile(r"\d")
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_configured: dict[str, Any] = {}


def register_secret(value: str | None) -> None:
    """Redact this exact value wherever it appears (a configured API key, a webhook secret)."""
    if value and len(value) >= 8:
        with _secrets_lock:
            _secrets.add(value)


def _norm_key(key: object) -> str:
    return str(key).strip().lower().replace("-", "_")


def redact_text(text: str) -> str:
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, "[secret]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}[secret]" if m.lastindex else "[secret]", text)
    text = _FIELD_IN_TEXT.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _EMAIL.sub("[email]", text)
    if len(_DIGITS.findall(text)) < 7:  # the matcher is slow: only text with enough digits for a number
        return text
    # Phone numbers only between the spans that are not one (each piece on its own, so a number is never
    # stitched together from digits on both sides of a timestamp).
    pieces: list[str] = []
    end = 0
    for kept in _NOT_PHONE.finditer(text):
        pieces.extend((_redact_phones(text[end : kept.start()]), kept.group()))
        end = kept.end()
    pieces.append(_redact_phones(text[end:]))
    return "".join(pieces)


def _redact_phones(text: str) -> str:
    if len(_DIGITS.findall(text)) < 7:
        return text
    text = _E164.sub("[phone]", text)
    found = phonenumbers.PhoneNumberMatcher(text, "DE", leniency=phonenumbers.Leniency.VALID)
    for match in sorted(found, key=lambda m: m.start, reverse=True):
        text = text[: match.start] + "[phone]" + text[match.end :]
    return text


def redact(value: Any, depth: int = 0) -> Any:
    """A copy of `value` with sensitive fields and text redacted (dicts, lists and strings; depth ≤ 8)."""
    if isinstance(value, str):
        return redact_text(value)
    if depth > 8:
        return REDACTED
    if isinstance(value, dict):
        return {k: REDACTED if _norm_key(k) in SENSITIVE_KEYS else redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [redact(v, depth + 1) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact_text(repr(value))


def redact_event(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: redact every field of the event (after exceptions are rendered to text)."""
    for key in list(event_dict):
        if key in ("timestamp", "level", "logger"):
            continue
        if _norm_key(key) in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact(event_dict[key])
    return event_dict


# Attributes every LogRecord has; anything else came in through `extra=` and becomes a JSON field.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def _extra_fields(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    record = event_dict.get("_record")
    if record is not None:
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                event_dict.setdefault(key, value)
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(
    *, json: bool = True, level: str = "INFO", stream: IO[str] | None = None, quiet: Iterable[str] = ()
) -> logging.Handler:
    """Route every log record of the process through the redacting formatter, as JSON lines (or as
    readable text with `json=False`, for a terminal) on `stream` (default stderr). Replaces the root
    logger's handlers; calling it again replaces the handler. Returns the handler."""
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), _extra_fields],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.StackInfoRenderer(),
            redact_event,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    # Replaces our earlier handler and stdlib's basicConfig one; leaves others (pytest's capture) alone.
    for existing in list(root.handlers):
        if existing is _configured.get("handler") or type(existing) is logging.StreamHandler:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    _configured["handler"] = handler
    return handler


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
