"""workflows.chain_policies.callback_plan: when the chain calls back a caller who named a window, and the
timeline line it writes, read in German and English on the lead page (crm/ui/display_callback.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from crm import catalogs, create_app
from crm.ui import display
from tests.conftest import make_test_secrets
from workflows.chain_policies import callback_plan
from workflows.payloads import CallbackRequest, ChainSettings

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SETTINGS = ChainSettings()  # production defaults: at least an hour after the call, at most 180 days ahead
APP = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}, secrets=make_test_secrets())


def _request(start: timedelta, end: timedelta | None) -> CallbackRequest:
    return CallbackRequest("call-1", NOW + start, NOW + end if end is not None else None)


@pytest.mark.parametrize(
    "start, end, at",
    [
        (timedelta(days=76), timedelta(days=83), NOW + timedelta(days=76)),  # "Ende Februar": its start
        (timedelta(days=26), None, NOW + timedelta(days=26)),  # "after the holidays": open-ended
        (timedelta(days=-2), timedelta(days=5), NOW + timedelta(hours=1)),  # "this week", said mid-week
        (timedelta(minutes=10), timedelta(days=1), NOW + timedelta(hours=1)),  # starts within the hour
        (timedelta(days=179), None, NOW + timedelta(days=179)),  # just inside the horizon
    ],
)
def test_a_window_ahead_is_called_back_at_its_start(start, end, at):
    plan = callback_plan(_request(start, end), NOW, SETTINGS)
    assert plan.at == at
    assert plan.detail.startswith("callback requested ")


@pytest.mark.parametrize(
    "start, end, said",
    [
        (timedelta(days=-9), timedelta(days=-2), "callback window ended 2026-12-05 09:00 UTC: the usual callback"),
        (timedelta(days=-1), timedelta(minutes=30), "callback window ended 2026-12-07 09:30 UTC: the usual callback"),
        (timedelta(days=181), None, "callback window more than 180 days away: the usual callback"),
        (timedelta(days=200), timedelta(days=230), "callback window more than 180 days away: the usual callback"),
    ],
)
def test_a_window_over_or_too_far_away_falls_back(start, end, said):
    assert callback_plan(_request(start, end), NOW, SETTINGS) == (None, said)


def test_the_settings_shape_the_plan():
    shorter = ChainSettings(callback_min_delay_s=60, callback_horizon_s=30 * 86400)
    assert callback_plan(_request(timedelta(0), timedelta(days=1)), NOW, shorter).at == NOW + timedelta(minutes=1)
    assert callback_plan(_request(timedelta(days=31), None), NOW, shorter).at is None


def _render(lang: str, detail: str) -> str:
    with APP.test_request_context(f"/?lang={lang}"):
        return display.chain_text("following_up", detail)


DETAILS = [
    callback_plan(_request(timedelta(days=76), timedelta(days=83)), NOW, SETTINGS).detail,
    callback_plan(_request(timedelta(days=26), None), NOW, SETTINGS).detail,
    callback_plan(_request(timedelta(days=-9), timedelta(days=-2)), NOW, SETTINGS).detail,
    callback_plan(_request(timedelta(days=200), None), NOW, SETTINGS).detail,
]


@pytest.mark.parametrize("detail", DETAILS)
def test_every_callback_line_reads_in_german_and_english(detail):
    assert display.match_rule(detail) is not None
    de, en = _render("de", detail), _render("en", detail)
    assert de != en and de != detail and en != detail, (de, en)
    assert not re.search(r"\bUTC\b|\d{4}-\d\d-\d\d", de + en), "times are shown in the user's zone and format"
    assert "callback" not in de.lower() and "Rückruf" in de


def test_the_window_is_shown_with_both_ends():
    detail = DETAILS[0]  # 2027-02-21 09:00 UTC to 2027-02-28 09:00 UTC
    assert detail == "callback requested for 2027-02-21 09:00 UTC to 2027-02-28 09:00 UTC"
    en, de = _render("en", detail), _render("de", detail)
    assert en.startswith("Callback requested for ") and "2/21/27" in en and "2/28/27" in en
    assert de.startswith("Rückruf gewünscht für ") and "21.02.27" in de and "28.02.27" in de
    assert "180" in _render("de", DETAILS[3]) and "Tage" in _render("de", DETAILS[3])


def test_the_catalogues_have_the_lines():
    german = catalogs.messages("de", "ui")
    for msgid in (
        "Callback requested for %(start)s – %(end)s",
        "Callback requested from %(start)s on",
        "The callback window ended %(when)s: callback task as usual",
        "The callback window is more than %(days)s away: callback task as usual",
    ):
        assert isinstance(german.get(msgid), str) and german[msgid] != msgid
