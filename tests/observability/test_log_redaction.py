"""The redactor's text rules: real phone numbers and emails go, its own markers and the digits of
timestamps, durations and ids stay (a newcomer's `make up` printed "[redacted]]" and "12.[phone]")."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from crm.observability.logging import redact, redact_text
from tests.observability import markers

MARKERS = ("[secret]", "[redacted]", "[email]", "[phone]")


@pytest.mark.parametrize(
    "number",
    ["+49 30 1234567", "030/1234567", "0171-2345678", "(030) 123 45 67", "+4915123456789", markers.PHONE],
)
def test_phone_numbers_in_german_and_international_notation_are_redacted(number):
    redacted = redact_text(f"Rückruf unter {number} erbeten")
    assert redacted == "Rückruf unter [phone] erbeten"


def test_an_email_is_redacted():
    assert redact_text(f"reply to {markers.EMAIL}.") == "reply to [email]."


@pytest.mark.parametrize("marker", MARKERS)
@pytest.mark.parametrize("field", ["password: ", "password=", "token=", '"first_name": ', "api_key="])
def test_its_own_markers_are_left_alone(field, marker):
    text = f"demo {field}{marker} this database"
    assert redact_text(text) == text


def test_the_demo_warning_is_redacted_once():
    # crm/demo.py's warning: "password: use" reads as a key=value pair, so "use" goes; but only once.
    text = "demo users got the well-known demo password: use this database for demos only"
    assert redact_text(text) == "demo users got the well-known demo password: [secret] this database for demos only"


def test_redacting_twice_changes_nothing():
    once = redact_text(f"demo password: hunter2hunter2 for {markers.EMAIL}, call {markers.PHONE}")
    assert once == "demo password: [secret] for [email], call [phone]"
    assert redact_text(once) == once


def _timestamps() -> list[str]:
    # Several instants: whether six digits of fraction make a "valid" number depends on the digits.
    instants = [
        dt.datetime(2026, 12, 6, 18, 16, 12, micro, tzinfo=dt.UTC)
        for micro in (332373, 99346, 573773, 679946, 930077, 123456)
    ]
    found: list[str] = []
    for at in instants:
        found += [
            at.isoformat(),
            str(at),
            at.strftime("%d.%m.%Y %H:%M:%S.%f"),
            at.strftime("%H:%M:%S,%f"),
            repr(at),
            repr(at.timestamp()),
        ]
    return found


@pytest.mark.parametrize("stamp", _timestamps())
def test_timestamps_keep_their_digits(stamp):
    assert redact_text(f"done at {stamp} ok") == f"done at {stamp} ok"


@pytest.mark.parametrize(
    "duration",
    [
        str(dt.timedelta(days=1, seconds=7445, microseconds=920071)),
        repr(dt.timedelta(seconds=41431, microseconds=399930)),
        "94.0913480s",
        "PT1H2M3.5739S",
        "0.1712345678",
    ],
)
def test_durations_keep_their_digits(duration):
    assert redact_text(f"took {duration}") == f"took {duration}"


@pytest.mark.parametrize(
    "ident",
    [
        "lead_id=01711234567",
        '"chain_id": 03012345678',
        "chain-lead-01711234567",
        "INV-2026-0301234567",
        "3f2a1b4c-0171-2345-6789-def012345678",
        "4bf92f3577b34da6a3ce929d0e0e4736",
    ],
)
def test_ids_keep_their_digits(ident):
    assert redact_text(f"started {ident}") == f"started {ident}"


def test_a_number_next_to_a_timestamp_is_still_found():
    text = f"2026-12-06T18:16:12.332373+00:00 call 030/1234567 at 18:20:00.5, lead_id=42 {markers.PHONE}"
    assert redact_text(text) == "2026-12-06T18:16:12.332373+00:00 call [phone] at 18:20:00.5, lead_id=42 [phone]"


def test_structured_values_are_redacted_by_the_same_rules():
    event = {"at": "2026-12-06 18:16:12.332373", "note": "0171-2345678", "email": markers.EMAIL}
    assert redact(event) == {"at": "2026-12-06 18:16:12.332373", "note": "[phone]", "email": "[redacted]"}


def test_the_log_line_keeps_its_timestamp_and_markers(json_logs):
    logging.getLogger("leadchain.test").info(
        "demo password: [secret] this database, took %s, started %s, call %s",
        dt.timedelta(seconds=12, microseconds=332373),
        dt.datetime(2026, 12, 6, 18, 16, 12, 332373, tzinfo=dt.UTC),
        markers.PHONE,
    )
    line = json.loads(json_logs.getvalue().strip().splitlines()[-1])
    assert line["event"] == (
        "demo password: [secret] this database, took 0:00:12.332373, started 2026-12-06 18:16:12.332373+00:00, "
        "call [phone]"
    )


def test_a_pdf_render_logs_nothing_from_weasyprint_or_fonttools(capsys):
    """`leadchain report` printed 32 lines of WeasyPrint progress and fontTools subsetting at INFO."""
    from crm.observability import install_worker
    from crm.reports.pdf import html_to_pdf

    root = logging.getLogger()
    root_handlers, root_level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in ("weasyprint", "fontTools")}
    try:
        install_worker("test", serve=False)
        capsys.readouterr()
        pdf = html_to_pdf("<html><body><h1>Bericht</h1><p>Grüße aus München</p></body></html>")
        logging.getLogger("leadchain.test").info("rendered")
        lines = capsys.readouterr().err.splitlines()
    finally:
        for handler in list(root.handlers):
            if handler not in root_handlers:
                root.removeHandler(handler)
        root.setLevel(root_level)
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)
    assert pdf.startswith(b"%PDF")
    loggers = [json.loads(line)["logger"] for line in lines]
    assert loggers == ["leadchain.test"]  # ours still log at INFO; the libraries' INFO is gone
