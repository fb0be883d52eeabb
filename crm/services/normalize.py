"""Normalise what lead sources send: emails, phone numbers, names, consent wording and dates.

Each function returns the clean value or raises FieldError with a message a rep can act on.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import timezone as phone_timezone

BERLIN = ZoneInfo("Europe/Berlin")
GERMAN_SPEAKING = {"DE", "AT", "CH", "LI", "LU"}
# Countries whose leads are written to in French when they name no language. Switzerland and Luxembourg stay
# German and Belgium English (a country of several languages: the form's language field decides).
FRENCH_SPEAKING = {"FR", "MC"}


class FieldError(ValueError):
    """A value that cannot be accepted; the message names the problem, not the field."""


@dataclass(frozen=True)
class Phone:
    e164: str
    region: str | None
    timezone: str | None
    # "valid" per the numbering plan; "unverified" when only the length is plausible. Number plans
    # change faster than libphonenumber's metadata, so we keep such numbers and let the dial gate decide.
    status: str


def normalise_email(raw: str) -> tuple[str, str]:
    """Return (email, dedupe key). The key ignores case and plus-addressing (anna+promo@x → anna@x)."""
    value = raw.strip()
    if len(value) > 254:
        raise FieldError("email address is longer than 254 characters")
    try:
        # No DNS look-ups: intake must not depend on the network, and MX checks reject valid leads.
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as e:
        raise FieldError(f"not a valid email address: {e}") from None
    email = result.normalized.lower()
    local, _, domain = email.rpartition("@")
    key_local = local.split("+", 1)[0] or local
    return email, f"{key_local}@{domain}"


def normalise_phone(raw: str, region: str) -> Phone:
    value = raw.strip()
    if re.search(r"[A-Za-z]", value.replace("ext", "").replace("x", "")):
        raise FieldError("phone number contains letters")
    try:
        number = phonenumbers.parse(value, region.upper())
    except phonenumbers.NumberParseException as e:
        raise FieldError(f"not a phone number: {e._msg}") from None
    # IS_POSSIBLE_LOCAL_ONLY ("12") cannot be dialled from outside its area: not a usable contact.
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise FieldError("phone number has an impossible length")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    number_region = phonenumbers.region_code_for_number(number)
    zones = [z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    status = "valid" if phonenumbers.is_valid_number(number) else "unverified"
    return Phone(e164=e164, region=number_region, timezone=zones[0] if zones else None, status=status)


def clean_text(raw: str | None, max_len: int) -> str | None:
    """Trim and collapse whitespace. Markup is kept as text: it is escaped on output, never stripped."""
    if raw is None:
        return None
    value = " ".join(raw.split())
    if not value:
        return None
    if len(value) > max_len:
        raise FieldError(f"longer than {max_len} characters")
    return value


_CONSENT_YES = {"ja", "j", "yes", "y", "true", "wahr", "1", "x", "ok", "opt-in", "optin", "granted", "oui", "vrai"}
_CONSENT_NO = {"", "nein", "n", "no", "false", "falsch", "0", "-", "opt-out", "optout", "denied", "non", "faux"}


def parse_consent(raw: str | None) -> bool:
    """'ja', 'Ja (Formular)', 'x', 'true' → given; empty or 'nein' → not given; anything else is an error
    (guessing consent is how companies get fined)."""
    value = (raw or "").strip().lower()
    if value in _CONSENT_YES:
        return True
    if value in _CONSENT_NO:
        return False
    head = re.split(r"[\s(,;:/]+", value, maxsplit=1)[0]
    if head in _CONSENT_YES - {"1", "x"}:
        return True
    if head in _CONSENT_NO - {"", "-", "0"}:
        return False
    raise FieldError(f"consent value {raw!r} is neither yes nor no")


def parse_datetime(raw: str) -> datetime:
    """dd.mm.yyyy (German Excel), yyyy-mm-dd, or ISO 8601 with time; date-only values mean midnight
    in Berlin. Returns UTC."""
    value = raw.strip()
    m = re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?", value)
    try:
        if m:
            d, mo, y, hh, mm, ss = m.groups()
            local = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=BERLIN)
            return local.astimezone(UTC)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.combine(date.fromisoformat(value), time(0), BERLIN).astimezone(UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FieldError(f"{raw!r} is not a valid date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=BERLIN)
    return parsed.astimezone(UTC)


_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe", "å": "aa"})
_COMPANY_SUFFIXES = re.compile(
    r"\b(gmbh|mbh|ag|kg|ohg|gbr|ug|e\s?k|e\s?v|inc|llc|ltd|co|corp|corporation|company|gmbh\s?&\s?co|"
    r"haftungsbeschraenkt|und|and|partner)\b"
)


_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str | None) -> str:
    """Spelling-insensitive form for fuzzy matching: Müller, Mueller and MULLER fold alike enough."""
    if not text:
        return ""
    value = text.lower()
    # ASCII has nothing to transliterate, decompose or strip: intake folds up to 200 candidates per new lead
    # (crm.services.intake._flag_fuzzy), most of them ASCII, and this skips four times the work for them.
    if not value.isascii():
        value = unicodedata.normalize("NFKD", value.translate(_TRANSLIT))
        value = "".join(c for c in value if not unicodedata.combining(c))
    return " ".join(_NOT_ALNUM.sub(" ", value).split())


def fold_company(text: str | None) -> str:
    return " ".join(_COMPANY_SUFFIXES.sub(" ", fold(text)).replace("&", " ").split())


def match_key(last_name: str | None) -> str | None:
    key = fold(last_name).replace(" ", "")
    # "Mueller"/"Muller" → one blocking key: drop the e of a transliterated umlaut.
    key = key.replace("ue", "u").replace("oe", "o").replace("ae", "a")
    return key[:100] or None


def language_for(
    explicit: str | None, phone_region: str | None, email: str | None, country: str | None, default: str = "de"
) -> str:
    if explicit:
        return explicit
    region = (country or phone_region or "").upper()
    if region:
        return "de" if region in GERMAN_SPEAKING else "fr" if region in FRENCH_SPEAKING else "en"
    if email:
        tld = email.rsplit(".", 1)[-1]
        if tld in {"de", "at", "ch"}:
            return "de"
        if tld == "fr":
            return "fr"
        if tld in {"com", "org", "net", "io", "us", "uk"}:
            return "en"
    return default
