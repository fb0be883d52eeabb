"""The provider webhooks' one parse path (issue 14 items 3, 4, 5): poison bodies answered 4xx naming the field
(or, for Bland, recorded as unparseable), the documented payloads read right, non-JSON refused. Each body
is signed correctly and posted through the Flask app, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from providers import bland, vapi_events
from providers.events import CallEvent
from tests.voice.provider_hooks import (
    call_row,
    compact,
    counts,
    fixture,
    hooks_app,  # noqa: F401 (a fixture)
    ours,
    post,
    seed_lead,
)

# ---- issue 14 item 3: numbers out of range, values of the wrong type --------------------------------------

RETELL_POISON = [
    ("start_timestamp", 1e20, "call.start_timestamp"),
    ("duration_ms", 1e13, "call.duration_ms"),
    ("disconnection_reason", ["user_hangup"], "call.disconnection_reason"),
]


@pytest.mark.parametrize(("key", "value", "field"), RETELL_POISON, ids=[c[0] for c in RETELL_POISON])
def test_retell_poison_answers_400_naming_the_field(hooks_app, key, value, field):  # noqa: F811
    lead_id = seed_lead(hooks_app)
    payload = ours("retell", fixture("retell_call_analyzed_call_object.json"), lead_id, "call_poison_r1")
    payload["call"][key] = value
    before = counts(hooks_app)
    r = post(hooks_app.test_client(), "retell", compact(payload))
    assert r.status_code == 400, r.get_data(as_text=True)
    assert field in r.get_json()["errors"]
    assert counts(hooks_app) == before


VAPI_POISON = [("cost", "-0.5", "message.cost"), ("durationSeconds", "1e400", "message.durationSeconds")]


@pytest.mark.parametrize(("key", "literal", "field"), VAPI_POISON, ids=[c[0] for c in VAPI_POISON])
def test_vapi_poison_answers_400_naming_the_field(hooks_app, key, literal, field):  # noqa: F811
    lead_id = seed_lead(hooks_app)
    payload = ours("vapi", fixture("vapi_end_of_call_report.json"), lead_id, "call-poison-v1")
    payload["message"][key] = "__POISON__"
    # 1e400 cannot come out of json.dumps: the literal goes into the body text as a sender would write it.
    body = compact(payload).replace(b'"__POISON__"', literal.encode())
    before = counts(hooks_app)
    r = post(hooks_app.test_client(), "vapi", body)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert field in r.get_json()["errors"]
    assert counts(hooks_app) == before


BLAND_POISON = [
    ("status", "x" * 300, "status"),
    ("price", -1, "price"),
    ("corrected_duration", "9" * 5000, "corrected_duration"),
]


@pytest.mark.parametrize(("key", "value", "field"), BLAND_POISON, ids=[c[0] for c in BLAND_POISON])
def test_bland_poison_is_recorded_as_unparseable_once(hooks_app, key, value, field, caplog):  # noqa: F811
    """Bland documents no retry policy, so a 4xx might be retried for ever: the body is kept for a person,
    answered 200 with an alert, and nothing else is stored; a redelivery records nothing new."""
    lead_id = seed_lead(hooks_app)
    payload = ours("bland", fixture("bland_post_call.json"), lead_id, "call-poison-b1")
    payload[key] = value
    body = compact(payload)
    before = counts(hooks_app)
    client = hooks_app.test_client()
    r = post(client, "bland", body)
    assert r.status_code == 200, r.get_data(as_text=True)
    answer = r.get_json()
    assert answer["status"] == "unparseable" and field in answer["errors"]
    after = counts(hooks_app)
    assert after["interactions"] == before["interactions"]
    assert after["unparseable_payloads"] == before["unparseable_payloads"] + 1
    alerts = [rec for rec in caplog.records if "ALERT unparseable bland" in rec.getMessage()]
    assert len(alerts) == 1 and "Dana" not in alerts[0].getMessage()
    again = post(client, "bland", body)
    assert again.status_code == 200 and again.get_json() == answer
    assert counts(hooks_app) == after


# ---- issue 14 item 5: JSON only ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "name"),
    [
        ("retell", "retell_call_analyzed_call_object.json"),
        ("vapi", "vapi_end_of_call_report.json"),
        ("bland", "bland_post_call.json"),
    ],
)
def test_signed_json_sent_as_text_plain_is_refused(hooks_app, provider, name):  # noqa: F811
    lead_id = seed_lead(hooks_app)
    body = compact(ours(provider, fixture(name), lead_id, f"call-textplain-{provider}"))
    before = counts(hooks_app)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        r = post(hooks_app.test_client(), provider, body, content_type=content_type)
        assert r.status_code == 415, (content_type, r.get_data(as_text=True))
    assert counts(hooks_app) == before
    # The control: the same body as application/json is stored.
    assert post(hooks_app.test_client(), provider, body).status_code == 200
    assert counts(hooks_app)["interactions"] == before["interactions"] + 1


# ---- issue 14 item 4: real payloads read right ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["retell_call_inbound.json", "retell_call_inbound_with_call_id.json"])
def test_retell_call_inbound_is_acknowledged(hooks_app, name):  # noqa: F811
    before = counts(hooks_app)
    r = post(hooks_app.test_client(), "retell", compact(fixture(name)))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert counts(hooks_app) == before  # inbound calls are not handled yet: acknowledged, nothing stored


def test_retell_call_with_one_transcript_turn_is_a_conversation(hooks_app):  # noqa: F811
    """transcript_object holds the agent's first turn only; the transcript text, call_successful and the
    summary show an agreed appointment: a conversation, never no_answer."""
    lead_id = seed_lead(hooks_app)
    payload = ours("retell", fixture("retell_call_analyzed_one_turn.json"), lead_id, "call_one_turn_1")
    r = post(hooks_app.test_client(), "retell", compact(payload))
    assert r.status_code == 200, r.get_data(as_text=True)
    call = call_row(hooks_app, "retell", "call_one_turn_1")
    assert call.outcome == "interested"
    assert call.data is not None and call.data["answered"] is True and call.data["end_status"] == "completed"
    assert [t["speaker"] for t in call.transcript or []] == ["agent", "callee", "agent"]


def test_bland_hotel_booking_summary_is_not_booked(hooks_app):  # noqa: F811
    lead_id = seed_lead(hooks_app)
    payload = ours("bland", fixture("bland_call_details_hotel_summary.json"), lead_id, "call-hotel-1")
    r = post(hooks_app.test_client(), "bland", compact(payload))
    assert r.status_code == 200, r.get_data(as_text=True)
    call = call_row(hooks_app, "bland", "call-hotel-1")
    assert call.outcome != "booked"
    assert call.outcome == "completed" and call.duration_s == 45 and call.cost_cents == 7


def _events(provider: str, name: str) -> list[CallEvent]:
    payload: Any = fixture(name)
    if provider == "retell":
        from providers.retell import events_from_payload  # the Retell SDK: imported by the tests that need it

        return events_from_payload(payload)
    return (vapi_events if provider == "vapi" else bland).events_from_payload(payload)


# (provider, fixture, stage, end status, answered, classification, final) for every documented example.
DOCUMENTED = [
    ("retell", "retell_call_started.json", "in_progress", None, None, None, False),
    ("retell", "retell_call_ended.json", "ended", "completed", True, None, False),
    ("retell", "retell_call_analyzed_call_object.json", "analyzed", "completed", True, "interested", True),
    ("retell", "retell_call_analyzed_abridged.json", "analyzed", "completed", True, "interested", True),
    ("retell", "retell_call_analyzed_one_turn.json", "analyzed", "completed", True, "interested", True),
    ("vapi", "vapi_status_update_in_progress.json", "in_progress", None, True, None, False),
    ("vapi", "vapi_status_update_ended.json", "ended", None, None, None, False),
    ("vapi", "vapi_end_of_call_report.json", "analyzed", "completed", True, "interested", True),
    ("bland", "bland_call_details.json", "analyzed", "completed", True, None, True),
    ("bland", "bland_call_details_hotel_summary.json", "analyzed", "completed", True, None, True),
    ("bland", "bland_post_call.json", "analyzed", "completed", True, "interested", True),
]


@pytest.mark.parametrize(
    ("provider", "name", "stage", "end_status", "answered", "classification", "final"),
    DOCUMENTED,
    ids=[c[1] for c in DOCUMENTED],
)
def test_every_documented_example_is_read_right(provider, name, stage, end_status, answered, classification, final):
    (event,) = _events(provider, name)
    assert (event.stage, event.end_status, event.answered, event.classification, event.final) == (
        stage,
        end_status,
        answered,
        classification,
        final,
    )


def test_structured_analysis_beats_the_summary_words():
    from providers.events import classify

    assert classify("Appointment booked", {"outcome": "not_interested"}) == "not_interested"
    assert classify("We talked about a hotel booking; booked two nights.", None) is None
    assert classify("Appointment booked for Tuesday.", None) == "booked"
    assert classify("Termin gebucht.", {"interested": None}) == "booked"
    assert classify("anything", {"interested": False}) == "not_interested"
    assert classify("Kein Interesse.", None) == "not_interested"


@pytest.mark.parametrize(
    "summary,outcome",
    [
        ("Rendez-vous pris: jeudi 3 décembre à 16 h 30.", "booked"),
        ("Le client ne souhaite plus être appelé.", "do_not_call"),
        ("Mauvais numéro, la personne ne connaît pas le prospect.", "wrong_number"),
        ("Le prospect n'est pas intéressé par l'offre.", "not_interested"),
        ("Rappel souhaité fin février.", "callback_requested"),
        ("Le prospect est intéressé et attend une offre.", "interested"),
    ],
)
def test_a_french_summary_is_read_when_no_structured_analysis_decides(summary, outcome):
    # Bland without an analysis schema (and the sandbox's French calls) leave only the summary's words.
    from providers.events import classify

    assert classify(summary, None) == outcome
