"""Templates, the calendar invite and the unsubscribe token, without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace as NS

import pytest
from icalendar import Calendar

from crm import create_app
from crm.config import Settings
from crm.email.ics import build_invite, uid_for
from crm.email.render import Rendered, UnknownTemplate, render
from crm.email.tokens import lead_from_reply_address, make_token, read_token, reply_address
from crm.extensions import db
from crm.models import Company
from crm.tenancy.context import operator_scope
from tests.conftest import make_test_secrets

EVIL = '<script>alert("x")</script>'
THU_3_DEC = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)  # 16:30 in Berlin (CET)
CASES = [
    ("follow_up", {}),
    ("booking_confirmation", {}),
    ("callback_confirmation", {}),
    ("nurture", {"step": 1}),
    ("nurture", {"step": 2}),
    ("nurture", {"step": 3}),
    (
        "manager_report",
        {"period": "KW 2", "metrics": {"Neue Leads": 12, "Termine": 3}, "rows": [{"Rep": EVIL, "Calls": 4}]},
    ),
]


@pytest.fixture(scope="module")
def render_app():
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
        },
        settings=Settings.from_env(
            {
                "LEADCHAIN_PUBLIC_URL": "https://crm.example.test",
                "LEADCHAIN_COMPANY_NAME": "Beispiel Vertrieb GmbH",
                "LEADCHAIN_COMPANY_REGISTER": "Amtsgericht München, HRB 123456",
                "LEADCHAIN_COMPANY_DIRECTORS": "Erika Muster",
            }
        ),
        secrets=make_test_secrets(),
    )
    with app.app_context():
        # The test company the default scope names, with no imprint or sender of its own: its mail carries
        # the configured imprint above (crm.email.settings).
        db.create_all()
        with operator_scope("test", "the test company"):
            db.session.add(Company(id=1, slug="test", name="Testfirma"))
            db.session.commit()
        yield app


def _owner():
    return NS(name="Olga Owner", email="olga@beispiel.example", timezone="Europe/Berlin")


def _lead(language="de"):
    return NS(
        id=42,
        first_name=EVIL,
        last_name="O'Brien & Söhne",
        company="<b>ACME</b>",
        email="eve@example.org",
        language=language,
        owner=_owner(),
        display_name="Eve",
    )


def _appointment(starts=datetime(2026, 1, 8, 15, 30, tzinfo=UTC), minutes=45, appt_id=7):
    from datetime import timedelta

    return NS(
        id=appt_id,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=minutes),
        created_at=datetime(2026, 1, 2, 9, 0, tzinfo=UTC),
        title="",
        location="Videocall",
    )


@pytest.mark.parametrize("language", ["de", "en", "fr"])
@pytest.mark.parametrize("template,context", CASES, ids=[f"{t}{c.get('step', '')}" for t, c in CASES])
def test_every_template_renders_in_every_language(render_app, template, context, language):
    context = dict(context)
    lead = _lead(language)
    if template == "booking_confirmation":
        context["appointment"] = _appointment()
    if template == "manager_report":
        context["recipient"] = NS(first_name=EVIL, last_name="Manager", company="", email="m@beispiel.example")
        lead = None
    result = render(template, lead, context, language)
    assert isinstance(result, Rendered)
    subject, html, text = result
    assert subject and "\n" not in subject and "\r" not in subject
    assert html.startswith("<!doctype html>") and f'<html lang="{language}">' in html
    for part in (html, text):
        # The imprint (from configuration) and the unsubscribe link are in every mail.
        assert "Beispiel Vertrieb GmbH" in part and "Amtsgericht München, HRB 123456" in part
        assert "Erika Muster" in part
    if template == "manager_report":
        assert (
            "https://crm.example.test/settings/reports" in html and "https://crm.example.test/settings/reports" in text
        )
    else:
        link = f"https://crm.example.test/unsubscribe/{make_token(42)}"
        assert link in html and link in text
        assert 'clicktracking="off"' in html  # SendGrid must not rewrite the unsubscribe link
    # Lead data is escaped in HTML, verbatim in plain text.
    assert "<script>" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert EVIL in text
    if template != "manager_report":
        assert "<b>ACME</b>" not in html
    marker = {
        "de": ("Impressum", "Geschäftsführung"),
        "en": ("Legal notice", "Managing directors"),
        "fr": ("Mentions légales", "Direction"),
    }[language]
    assert all(m in html and m in text for m in marker)


def test_booking_confirmation_shows_the_local_time(render_app):
    subject, html, text = render("booking_confirmation", _lead("de"), {"appointment": _appointment()}, "de")
    assert subject == "Terminbestätigung: Donnerstag, 8. Januar 2026 um 16:30 Uhr (MEZ)"
    assert "45 Minuten" in text and "invite.ics" in text
    subject, _, _ = render(
        "booking_confirmation",
        _lead("en"),
        {"appointment": _appointment(datetime(2026, 7, 9, 14, 30, tzinfo=UTC))},
        "en",
    )
    assert subject == "Appointment confirmed: Thursday, 9 July 2026 at 16:30 (CEST)"


def test_a_french_booking_confirmation_and_follow_up_are_french(render_app):
    """French dates as the locale writes them, the formal greeting (first and last name, vous) and the
    footer's legal words; no English or German sentence of the templates."""
    lead = _lead("fr")
    subject, html, text = render("booking_confirmation", lead, {"appointment": _appointment(THU_3_DEC)}, "fr")
    # (the subject's whitespace is folded to plain spaces, the no-break space before ":" included)
    assert subject == "Rendez-vous confirmé : jeudi 3 décembre 2026 à 16:30 (UTC+01:00)"
    assert f"Bonjour {EVIL} O'Brien & Söhne," in text
    assert "Nous vous confirmons votre rendez-vous avec Olga Owner" in text
    assert "45 minutes" in text and "L'invitation de calendrier est jointe (invite.ics)." in text
    assert "Cordialement" in text and "Mentions légales" in text
    for word in ("Hello", "Kind regards", "Legal notice", "Unsubscribe", "Hallo", "Impressum", "Thursday"):
        assert word not in text, word
    subject, html, text = render("follow_up", lead, {}, "fr")
    assert subject == "Les informations que vous avez demandées à Beispiel Vertrieb GmbH"
    assert "Comme convenu, voici nos informations" in text
    assert "Se désabonner ici" in text and "Se désabonner ici" in html
    for word in ("Hello", "Kind regards", "Legal notice", "information you asked", "Hallo"):
        assert word not in text, word


def test_language_follows_the_lead_and_steps_pick_the_nurture_mail(render_app):
    assert render("follow_up", _lead("en"), {}).subject.startswith("The information you asked for")
    assert render("follow_up", _lead("de"), {}).subject.startswith("Ihre Unterlagen")
    assert render("follow_up", _lead("fr"), {}).subject.startswith("Les informations que vous avez demandées")
    assert render("follow_up", _lead("it"), {}).subject.startswith("Ihre Unterlagen")  # default: German
    subjects = {render("nurture", _lead("en"), {"step": s}).subject for s in (1, 2, 3)}
    assert len(subjects) == 3
    assert render("nurture", _lead("en"), {"step": 9}).subject == render("nurture", _lead("en"), {"step": 3}).subject
    with pytest.raises(UnknownTemplate):
        render("no_such_template", _lead(), {})


@pytest.mark.parametrize(
    "starts,local",
    [
        (datetime(2026, 1, 8, 15, 30, tzinfo=UTC), "20260108T163000"),  # CET, UTC+1
        (datetime(2026, 7, 9, 14, 30, tzinfo=UTC), "20260709T163000"),  # CEST, UTC+2
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "20260329T013000"),  # the night DST starts
    ],
)
def test_ics_parses_with_the_right_time_and_zone(render_app, starts, local):
    raw = build_invite(
        _appointment(starts),
        lead_name='Eve, "the" Lead',
        lead_email="eve@example.org",
        organizer_name="Olga Owner",
        organizer_email="olga@beispiel.example",
        language="de",
    )
    text = raw.decode()
    assert f"DTSTART;TZID=Europe/Berlin:{local}" in text
    cal = Calendar.from_ical(raw)
    assert str(cal["METHOD"]) == "REQUEST"
    zones = list(cal.walk("VTIMEZONE"))
    assert [str(z["TZID"]) for z in zones] == ["Europe/Berlin"]
    assert {c.name for c in zones[0].subcomponents} == {"DAYLIGHT", "STANDARD"}
    [event] = cal.walk("VEVENT")
    start = event.decoded("DTSTART")
    assert start.tzinfo is not None and getattr(start.tzinfo, "key", None) == "Europe/Berlin"
    assert start.astimezone(UTC) == starts
    # (in UTC: Python subtracts same-zone datetimes by wall clock, which is wrong across a DST change)
    assert (event.decoded("DTEND").astimezone(UTC) - starts).total_seconds() == 45 * 60
    assert str(event["ORGANIZER"]) == "mailto:olga@beispiel.example"
    assert event["ORGANIZER"].params["CN"] == "Olga Owner"
    assert str(event["ATTENDEE"]) == "mailto:eve@example.org" and event["ATTENDEE"].params["RSVP"] == "TRUE"
    assert str(event["UID"]) == uid_for(7)
    # Stable per appointment: the same appointment gives the same invite; another one another UID.
    again = build_invite(
        _appointment(starts),
        lead_name='Eve, "the" Lead',
        lead_email="eve@example.org",
        organizer_name="Olga Owner",
        organizer_email="olga@beispiel.example",
        language="de",
    )
    assert again == raw
    other = Calendar.from_ical(
        build_invite(
            _appointment(starts, appt_id=8),
            lead_name="E",
            lead_email="e@x.org",
            organizer_name="O",
            organizer_email="o@x.org",
        )
    )
    assert str(other.walk("VEVENT")[0]["UID"]) != str(event["UID"])


def test_ics_in_another_owner_zone(render_app):
    raw = build_invite(
        _appointment(datetime(2026, 1, 8, 15, 30, tzinfo=UTC)),
        lead_name="E",
        lead_email="e@example.org",
        organizer_name="O",
        organizer_email="o@example.org",
        tz_name="America/New_York",
    )
    [event] = Calendar.from_ical(raw).walk("VEVENT")
    assert "DTSTART;TZID=America/New_York:20260108T103000" in raw.decode()
    assert event.decoded("DTSTART").astimezone(UTC) == datetime(2026, 1, 8, 15, 30, tzinfo=UTC)


def test_unsubscribe_and_reply_tokens(render_app):
    token = make_token(42)
    assert read_token(token) == 42
    assert read_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
    assert read_token(make_token(43)[:3] + token[3:]) is None
    assert read_token("preview") is None and read_token("") is None
    address = reply_address("antwort@reply.example", 42)
    assert address.startswith("antwort+r42-") and address.endswith("@reply.example")
    assert lead_from_reply_address(f"Sales <{address}>") == 42
    assert lead_from_reply_address(address.upper()) == 42  # some MTAs change the case
    assert lead_from_reply_address(address.replace("+r42-", "+r43-")) is None
