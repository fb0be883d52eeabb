from datetime import UTC, datetime

import pytest

from crm.services import normalize as n


@pytest.mark.parametrize(
    "raw,email,key",
    [
        ("Anna.Schmidt@Example.DE", "anna.schmidt@example.de", "anna.schmidt@example.de"),
        ("  thomas.meier7+promo@initech.de ", "thomas.meier7+promo@initech.de", "thomas.meier7@initech.de"),
        (
            "JONAS.ZIMMERMANN3@KFZ-WERKSTATT.DE",
            "jonas.zimmermann3@kfz-werkstatt.de",
            "jonas.zimmermann3@kfz-werkstatt.de",
        ),
        ("müller@bäckerei.de", "müller@bäckerei.de", "müller@bäckerei.de"),
    ],
)
def test_email_normalised_with_plus_aware_key(raw, email, key):
    assert n.normalise_email(raw) == (email, key)


@pytest.mark.parametrize("raw", ["max.mustermann@", "erika@example", "no-at-sign", "a@b@c.de", "x" * 250 + "@a.de"])
def test_bad_emails_rejected(raw):
    with pytest.raises(n.FieldError):
        n.normalise_email(raw)


@pytest.mark.parametrize(
    "raw,region,e164,zone",
    [
        ("+49 (0)30 23125101", "DE", "+493023125101", "Europe/Berlin"),
        ("030/23125-102", "DE", "+493023125102", "Europe/Berlin"),
        ("+4915228817103", "DE", "+4915228817103", "Europe/Berlin"),
        ("0049 89 99998188", "DE", "+498999998188", "Europe/Berlin"),
        ("(0152) 2881 7189", "DE", "+4915228817189", "Europe/Berlin"),
        ("+1 415 555 0100", "DE", "+14155550100", "America/Los_Angeles"),
        ("212.555.0139", "US", "+12125550139", "America/New_York"),
        ("(212) 555-0151", "US", "+12125550151", "America/New_York"),
    ],
)
def test_phone_notations_to_e164_with_zone(raw, region, e164, zone):
    phone = n.normalise_phone(raw, region)
    assert phone.e164 == e164
    assert phone.timezone == zone
    assert phone.status == "valid"


def test_phone_outside_numbering_plan_is_kept_unverified():
    phone = n.normalise_phone("0151 2881100", "DE")
    assert phone.e164 == "+491512881100"
    assert phone.status == "unverified"


@pytest.mark.parametrize("raw", ["telefon: keine", "12", "abc", "+49"])
def test_impossible_phones_rejected(raw):
    with pytest.raises(n.FieldError):
        n.normalise_phone(raw, "DE")


@pytest.mark.parametrize(
    "raw,given",
    [
        ("ja", True),
        ("Ja (Formular)", True),
        ("x", True),
        ("X", True),
        ("true", True),
        ("yes", True),
        ("", False),
        ("nein", False),
        ("false", False),
        ("Nein, danke", False),
        (None, False),
        # French forms (Swiss, Belgian and French customers)
        ("oui", True),
        ("Oui (formulaire)", True),
        ("non", False),
        ("Non, merci", False),
    ],
)
def test_consent_wording(raw, given):
    assert n.parse_consent(raw) is given


@pytest.mark.parametrize("raw", ["vielleicht", "maybe", "2"])
def test_unclear_consent_is_an_error_not_a_guess(raw):
    with pytest.raises(n.FieldError):
        n.parse_consent(raw)


def test_dates():
    # Midnight in Berlin (CET, UTC+1 in November) is 23:00 UTC the day before.
    assert n.parse_datetime("01.11.2026") == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert n.parse_datetime("2026-11-02") == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)
    assert n.parse_datetime("2026-11-01T08:15:00Z") == datetime(2026, 11, 1, 8, 15, tzinfo=UTC)
    # Summer time: CEST is UTC+2.
    assert n.parse_datetime("15.07.2026") == datetime(2026, 7, 14, 22, 0, tzinfo=UTC)
    for bad in ("31.11.2026", "2026-02-30", "gestern", "13/01/2026"):
        with pytest.raises(n.FieldError):
            n.parse_datetime(bad)


def test_fold_makes_german_spellings_comparable():
    assert n.match_key("Müller") == n.match_key("Mueller") == n.match_key("MULLER")
    assert n.fold("Björn Schröder") == "bjoern schroeder"
    assert n.fold_company("Müller Haustechnik GmbH") == n.fold_company("Mueller Haustechnik")


def test_clean_text_keeps_markup_as_text():
    assert n.clean_text("  <script>alert(1)</script>  ", 100) == "<script>alert(1)</script>"
    with pytest.raises(n.FieldError):
        n.clean_text("x" * 101, 100)


def test_language_guess():
    assert n.language_for(None, "DE", None, None) == "de"
    assert n.language_for(None, "US", None, None) == "en"
    assert n.language_for(None, None, "a@b.de", None) == "de"
    assert n.language_for("en", "DE", None, None) == "en"
