"""The provider sandbox's post-call summary is made from the call itself, over HTTP.

* Scripted calls (no voice bridge), on Retell, Vapi and Bland: the summary names the slot the agent
  confirmed in the returned transcript, for both booking personas (two different slots) in German, English
  and French; the other personas' summaries quote what the callee actually said, in German and French.
* Live calls: the sandbox talks to the real voice bridge (rules policy), which books in the CRM
  (PostgreSQL); the summary the sandbox serves and the one the CRM stores from the signed webhook name
  exactly the appointment the CRM holds (before the fix they said a canned "16:30" beside a 16:00 booking).
  The booked slots differ per case: a free Thursday 16:00, the same wish with 16:00 taken, a Tuesday
  morning, an English call and a French one (the bridge's French slot wording, "jeudi 28 novembre à 16 h").
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from activities.ledger import claim
from activities.provider_activities import ProviderActivities
from crm import create_app
from crm.extensions import db
from crm.models import Appointment, Interaction, Lead, Role, User
from providers.base import CallRequest
from providers.retell import RetellProvider
from sandbox.app import SandboxConfig, create_sandbox_app
from sandbox.personas import BY_LAST_DIGIT
from tests.conftest import _wipe, make_test_secrets, set_settings
from tests.helpers import in_app
from tests.sandbox_fixtures import ServerThread, free_port
from tests.voice.content_timing import CONTENT_TIMING
from voice.bridge.config import BridgeConfig
from voice.bridge.dialog.factory import policy_from_env
from voice.bridge.server import BridgeServer, build_bridge
from workflows.payloads import PlaceCallInput

BERLIN = ZoneInfo("Europe/Berlin")
DE_WEEKDAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FR_WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
WEEKDAYS = {"de": DE_WEEKDAYS, "en": EN_WEEKDAYS, "fr": FR_WEEKDAYS}
BOOKED_OPENING = {"de": "Termin gebucht", "en": "Appointment booked", "fr": "Rendez-vous pris"}
KEYS = {
    "retell": {"Authorization": "Bearer key_sandbox_retell"},
    "vapi": {"Authorization": "Bearer sandbox-vapi-private-key"},
    "bland": {"authorization": "sandbox-bland-key"},
}


# ---- reading a slot back out of text, independently of the sandbox's own code ------------------------------


def slot_in(text: str, language: str) -> tuple[str | None, int, int]:
    """(weekday or None, hour, minute) of the one slot `text` names; fails when it names none or several."""
    if language == "de":
        found = re.findall(r"(?:(\w+)(?:, den \d{1,2}\. \w+,)? )?um (\d{1,2})(?::(\d{2}))? Uhr", text)
        slots = [(wd if wd in DE_WEEKDAYS else None, int(h), int(m or 0)) for wd, h, m in found]
    elif language == "fr":  # "jeudi à 16 h 30", "jeudi 28 novembre à 16 h"
        found = re.findall(r"(?:(\w+)(?: \d{1,2}(?:er)? \w+)? )?à (\d{1,2}) h(?: (\d{2}))?(?!\w)", text)
        slots = [(wd if wd in FR_WEEKDAYS else None, int(h), int(m or 0)) for wd, h, m in found]
    else:
        found = re.findall(r"(?:(\w+)(?:, \w+ \d{1,2}(?:st|nd|rd|th),)? )?at (\d{1,2})(?::(\d{2}))? ?([ap])m", text)
        slots = [
            (wd if wd in EN_WEEKDAYS else None, int(h) % 12 + (12 if ap == "p" else 0), int(m or 0))
            for wd, h, m, ap in found
        ]
    assert len(slots) == 1, f"expected one slot in {text!r}, found {slots}"
    return slots[0]


# ---- scripted calls ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scripted():
    """The sandbox alone (no CRM, no bridge): calls play their persona's script."""
    with ServerThread(create_sandbox_app(SandboxConfig(step_s=0.05))) as server:
        yield server.url


def _number(digit: str, language: str) -> str:
    if language == "de":
        return f"+4930231251{uuid.uuid4().int % 90 + 10}{digit}"
    if language == "fr":
        return f"+3314268{uuid.uuid4().int % 900 + 100}{digit}"
    return f"+1212555{uuid.uuid4().int % 900 + 100}{digit}"


def _until(fetch, done, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, value
        time.sleep(0.05)


def scripted_call(base: str, provider: str, digit: str, language: str) -> tuple[str, list[tuple[str, str]]]:
    """Place a call through the provider's API; (summary, transcript as (agent|callee, text)) once analysed."""
    number = _number(digit, language)
    with httpx.Client(base_url=base, headers=KEYS[provider], timeout=10) as http:
        if provider == "retell":
            call_id = http.post(
                "/retell/v2/create-phone-call",
                json={
                    "from_number": "+4930555000",
                    "to_number": number,
                    "retell_llm_dynamic_variables": {"language": language},
                },
            ).json()["call_id"]
            call = _until(lambda: http.get(f"/retell/v2/get-call/{call_id}").json(), lambda c: "call_analysis" in c)
            turns = [("agent" if t["role"] == "agent" else "callee", t["content"]) for t in call["transcript_object"]]
            custom = call["call_analysis"]["custom_analysis_data"]
            if custom.get("outcome") == "booked":  # the extracted meeting time agrees with the summary
                assert slot_in(custom["meeting_time"], language) == slot_in(
                    call["call_analysis"]["call_summary"], language
                )
            return call["call_analysis"]["call_summary"], turns
        if provider == "vapi":
            call_id = http.post(
                "/vapi/call",
                json={
                    "assistantId": "asst_sandbox",
                    "phoneNumberId": "pn_sandbox",
                    "customer": {"number": number},
                    "assistantOverrides": {"variableValues": {"language": language}},
                },
            ).json()["id"]
            call = _until(lambda: http.get(f"/vapi/call/{call_id}").json(), lambda c: "analysis" in c)
            turns = [
                ("agent" if m["role"] == "bot" else "callee", m["message"])
                for m in call["artifact"]["messages"]
                if m["role"] in ("bot", "user")
            ]
            return call["analysis"].get("summary", ""), turns
        call_id = http.post(
            "/bland/v1/calls", json={"phone_number": number, "task": "sandbox", "language": language}
        ).json()["call_id"]
        call = _until(lambda: http.get(f"/bland/v1/calls/{call_id}").json(), lambda c: c["completed"])
        turns = [("agent" if t["user"] == "assistant" else "callee", t["text"]) for t in call["transcripts"]]
        return call["summary"] or "", turns


@pytest.mark.parametrize("provider", ["retell", "vapi", "bland"])
@pytest.mark.parametrize("language", ["de", "en", "fr"])
def test_a_scripted_booking_summary_names_the_slot_the_agent_confirmed(scripted, provider, language):
    booked = {}
    for digit in ("0", "9"):  # the two booking personas
        assert BY_LAST_DIGIT[digit].startswith("books")
        summary, turns = scripted_call(scripted, provider, digit, language)
        confirmation = [text for who, text in turns if who == "agent"][-1]
        assert slot_in(summary, language) == slot_in(confirmation, language), (summary, confirmation)
        assert summary.startswith(BOOKED_OPENING[language]), summary
        booked[digit] = slot_in(summary, language)
    assert booked["0"] != booked["9"], booked  # two calls, two slots: nothing fixed passes


@pytest.mark.parametrize("provider", ["retell", "vapi", "bland"])
@pytest.mark.parametrize("digit", ["1", "2", "3", "4", "8"])
@pytest.mark.parametrize("language", ["de", "fr"])
def test_other_summaries_quote_what_the_callee_said(scripted, provider, digit, language):
    summary, turns = scripted_call(scripted, provider, digit, language)
    said = [text for who, text in turns if who == "callee"][-1]
    assert said in summary, (summary, turns)
    assert BOOKED_OPENING[language] not in summary


def test_no_analysis_while_the_conversation_goes_on():
    """A poll during a live conversation (past the script's own timeline) gets an ongoing call without an
    analysis, so no poller can take the script's summary for the call's. The custom LLM server here holds
    the line without a word, the way a slow one would, until the test lets it go."""
    from websockets.sync.server import serve

    release = threading.Event()

    def silent(connection):
        release.wait(20)

    with serve(silent, "127.0.0.1", 0) as llm:
        threading.Thread(target=llm.serve_forever, daemon=True).start()
        port = llm.socket.getsockname()[1]
        config = SandboxConfig(
            webhook_base=f"http://127.0.0.1:{free_port()}",
            step_s=0.05,
            retell_llm_websocket_url=f"ws://127.0.0.1:{port}/llm-websocket/x",
        )
        with (
            ServerThread(create_sandbox_app(config)) as box,
            httpx.Client(base_url=box.url, headers=KEYS["retell"], timeout=10) as http,
        ):
            call_id = http.post(
                "/retell/v2/create-phone-call", json={"from_number": "+4930555000", "to_number": "+493023125190"}
            ).json()["call_id"]
            time.sleep(0.5)  # the script would be analysed after 0.15 s
            during = http.get(f"/retell/v2/get-call/{call_id}").json()
            assert during["call_status"] == "ongoing" and "call_analysis" not in during, during
            release.set()
            llm.shutdown()
            after = _until(
                lambda: http.get(f"/retell/v2/get-call/{call_id}").json(), lambda c: "call_analysis" in c, timeout=30
            )
            assert after["call_status"] == "ended"


# ---- live calls: the voice bridge books in the CRM --------------------------------------------------------

# The bridge's clock: Monday 18 November 2030, 10:00 in Berlin ("nächsten Donnerstag" is 28 November).
BRIDGE_NOW = datetime(2030, 11, 18, 10, 0, tzinfo=BERLIN)
PATH_SECRET = "summary-path-secret-" + uuid.uuid4().hex[:12]


@pytest.fixture
async def live(migrated_urls):
    """The CRM (PostgreSQL) on a real port with one rep (Mon-Fri 09-18 Berlin), the voice bridge on top of it,
    and the sandbox whose Retell calls talk to the bridge and whose webhooks go to the CRM."""
    secrets = make_test_secrets(LEADCHAIN_SECRET_BRIDGE_RETELL_PATH_SECRET=PATH_SECRET)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]}, secrets=secrets)
    _wipe(app)

    def rep():
        hours = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
        user = User(
            email="anna@leadchain.example",
            name="Anna Berger",
            role=Role.SALES,
            timezone="Europe/Berlin",
            working_hours=hours,
        )
        db.session.add(user)
        db.session.commit()
        return user.id

    rep_id = in_app(app, rep)
    bridge = build_bridge(
        app,
        policy=policy_from_env({}),
        config=BridgeConfig(port=0, metrics_port=0, **CONTENT_TIMING),
        clock=lambda: BRIDGE_NOW,
    )
    server = BridgeServer(bridge)
    await server.start()
    try:
        with ServerThread(app) as crm:
            sandbox_app = create_sandbox_app(
                SandboxConfig(
                    webhook_base=crm.url,
                    step_s=0.05,
                    retell_llm_websocket_url=f"{server.ws_url}/llm-websocket/{PATH_SECRET}",
                )
            )
            with ServerThread(sandbox_app) as sandbox:
                set_settings(app, "providers", sandbox_url=sandbox.url)  # the CRM verifies the sandbox's webhooks
                yield app, sandbox_app.extensions["sandbox"], sandbox.url, rep_id
    finally:
        await server.stop()
        bridge.tools_factory.close()
        _wipe(app)


def _lead(app, number: str, language: str, owner_id: int) -> int:
    def seed():
        lead = Lead(
            source="test",
            first_name="Jan",
            last_name="Weber",
            phone_e164=number,
            phone_region="DE",
            phone_timezone="Europe/Berlin",
            phone_status="valid",
            language=language,
            owner_id=owner_id,
        )
        db.session.add(lead)
        db.session.commit()
        return lead.id

    return in_app(app, seed)


def _busy(app, owner_id: int, lead_id: int, start: datetime) -> None:
    def block():
        db.session.add(
            Appointment(
                lead_id=lead_id,
                owner_id=owner_id,
                title="Anderer Termin",
                starts_at=start,
                ends_at=start + timedelta(minutes=30),
                idempotency_key=f"busy-{uuid.uuid4()}",
            )
        )
        db.session.commit()

    in_app(app, block)


@pytest.mark.parametrize(
    "digit, language, taken",
    [
        ("0", "de", None),  # "nächsten Donnerstag ab 16 Uhr"
        ("0", "de", datetime(2030, 11, 28, 16, 0, tzinfo=BERLIN)),  # the same wish, 16:00 already taken
        ("9", "de", None),  # "am Dienstag ab 10 Uhr"
        ("0", "en", None),  # "next Thursday after 4 pm"
        ("0", "fr", None),  # "jeudi prochain à partir de 16 heures"
    ],
)
async def test_a_live_call_summary_names_the_appointment_the_bridge_booked(live, digit, language, taken):
    app, sandbox, sandbox_url, rep_id = live
    number = f"+49302312{uuid.uuid4().int % 9000 + 1000}{digit}"
    lead_id = _lead(app, number, language, rep_id)
    if taken is not None:
        _busy(app, rep_id, _lead(app, "+493023125555", "de", rep_id), taken)
    provider = RetellProvider(api_key="key_sandbox_retell", base_url=f"{sandbox_url}/retell")
    key = f"summary-{uuid.uuid4()}"
    # Recorded the way the chain's place_call activity does (activities/provider_activities.py): the ledger
    # row is written before the provider is asked, so the bridge finds the call's company from the metadata's
    # key before any interaction exists (voice/bridge/lead_records.company_for_call); a call with no record
    # of ours is refused its CRM tools.
    in_app(app, lambda: (claim(key, "call", lead_id), db.session.commit()))
    placed = await asyncio.to_thread(
        provider.place_call,
        CallRequest(
            lead_id=lead_id,
            chain_id="",
            idempotency_key=key,
            to_number=number,
            language=language,
            agent_id="agent_bridge",
            from_number="+4930555000",
        ),
    )
    recorder = ProviderActivities(app, providers=None, email=None)  # type: ignore[arg-type]  (_placed asks none)
    in_app(
        app,
        lambda: recorder._placed(
            claim(key, "call", lead_id),
            PlaceCallInput(lead_id=lead_id, chain_id="", attempt=1, idempotency_key=key),
            "retell",
            placed.call_id,
        ),
    )
    extra = sandbox.state.get("retell", placed.call_id).extra
    for _ in range(600):
        if "live_transcript" in extra or "llm_error" in extra:
            break
        await asyncio.sleep(0.05)
    assert "llm_error" not in extra and "live_transcript" in extra, extra.get("llm_error")
    assert await asyncio.to_thread(sandbox.dispatcher.idle, 20)

    [appointment] = in_app(
        app, lambda: db.session.scalars(sa.select(Appointment).where(Appointment.lead_id == lead_id)).all()
    )
    booked = appointment.starts_at.astimezone(BERLIN)
    assert taken is None or booked != taken
    expected = (WEEKDAYS[language][booked.weekday()], booked.hour, booked.minute)

    # The analysis is written when the call has ended, a moment after the conversation (and, under load, after
    # the webhooks so far): read the call until it is there, at most 15 s.
    async with httpx.AsyncClient(headers=KEYS["retell"]) as http:
        for _ in range(300):
            call = (await http.get(f"{sandbox_url}/retell/v2/get-call/{placed.call_id}")).json()
            if "call_analysis" in call:
                break
            await asyncio.sleep(0.05)
    analysis = call["call_analysis"]
    assert analysis["custom_analysis_data"]["outcome"] == "booked"
    assert slot_in(analysis["call_summary"], language) == expected, (analysis["call_summary"], booked)
    assert datetime.fromisoformat(analysis["custom_analysis_data"]["meeting_start"]) == appointment.starts_at
    # What the agent said on the call names the same slot.
    confirmation = [
        text for who, text in extra["live_transcript"] if who == "agent" and slot_in_or_none(text, language)
    ]
    assert confirmation and slot_in(confirmation[-1], language) == expected, extra["live_transcript"]

    # And the CRM stored that summary from the signed webhook: the lead page shows the booked time. The
    # call_analyzed webhook leaves the sandbox after the analysis is readable, so wait for it to land.
    def stored_summary():
        return in_app(
            app,
            lambda: db.session.scalars(
                sa.select(Interaction.summary).where(
                    Interaction.provider == "retell", Interaction.provider_ref == placed.call_id
                )
            ).one(),
        )

    for _ in range(300):
        if stored_summary() is not None:
            break
        await asyncio.sleep(0.05)
    assert stored_summary() == analysis["call_summary"]


def slot_in_or_none(text: str, language: str):
    try:
        return slot_in(text, language)
    except AssertionError:
        return None
