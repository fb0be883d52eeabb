"""German pages in German: a lead with a real chain history (run by LeadChainWorkflow on the Temporal dev
server: intake with consent, score factors, a no-answer call, a rep's "call now", a booking, the chain's
booking email and task), reassigned by a manager and with the callee's qualification answers, read in
German on a 375 px phone. The lead page, the chain's task on /tasks and the timeline show none of the
English the chain and the CRM store (message ids, detail texts, codes, audit action ids, dict dumps, user
ids), and the page does not scroll sideways. In English the same page shows the English texts."""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Interaction, InteractionKind, Lead, Task
from tests.helpers import in_app
from tests.ui.browser.conftest import login
from workflows.vocabulary import TaskKind

# What the chain and the CRM write in English (workflows/lead_chain.py, crm/services/scoring.py,
# crm/services/intake.py): none of it may reach a German page.
ENGLISH = [
    "attempt 1",
    "attempt 2",
    "no_answer",
    "call retell",
    "call requested by a rep",
    "appointment booked on the call",
    "handed to the owner",
    "waiting for the lead",
    "intake",
    "rescore",
    "Prepare the booked appointment",
    "Call back the interested lead",
    "consent field answered",
    "express phone consent",
    "has phone",
    "has email",
    "has company",
    "has full name",
    "interest field filled in",
    "phone_consent",
    "has_phone",
    "business_domain",
    "stated_interest",
    "owner_id",
    "waiting_for_retry",
    "waiting_for_result",
    "following_up",
    "booking_confirmation",
    "follow_up",
    "decision_maker",
    "Need:",
    "Timing:",
    "Owner:",
    "by the chain",
    "Qualifying",
    "Following up",
    "Waiting for",
    "Call not allowed",
    "Lead created",
    "Score changed",
    "Task created",
    "Consent recorded",
]
# The screenshot the docs show (written by the last test with LEADCHAIN_UPDATE_SCREENSHOTS=1).
DOCS_SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "screenshots" / "lead-page-de.png"
RAW_ACTION = re.compile(r"\b(?:chain|lead|task|consent|call|email|note|appointment|duplicate)\.[a-z_]+\b")
DICT_DUMP = re.compile(r"\{'|'\s*:\s*'|\{\"|\bNone\b|\bTrue\b|\bFalse\b")
USER_ID = re.compile(r"\b(?:ui|user):\d+\b")


def _wait_for_stage(app, lead_id: int, stages: set[str], page, timeout_ms: int = 45_000) -> None:
    for _ in range(timeout_ms // 200):
        if in_app(app, lambda: db.session.get(Lead, lead_id).chain_stage) in stages:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"lead {lead_id} never reached {stages}")


def _signed_in_context(browser, live_server, demo, states, role: str):
    context = browser.new_context(base_url=live_server.url, storage_state=states.get(role), locale="de-DE")
    context.set_default_timeout(10_000)
    if role not in states:
        login(context.new_page(), role, demo)
        states[role] = context.storage_state()
    return context


@pytest.fixture(scope="module")
def history_lead(chain_lead, browser, live_server, demo, _signed_in_states):
    """Built once for the module: the lead with its whole history (see the module's docstring). Module-scoped,
    so outside each test's default company scope: the demo's leads are the first company's."""
    from crm.tenancy.context import company_scope

    with company_scope(1):
        return _build_history_lead(chain_lead, browser, live_server, demo, _signed_in_states)


def _build_history_lead(chain_lead, browser, live_server, demo, _signed_in_states):
    from voice.bridge.booking import record_qualification

    app = live_server.app
    chain = chain_lead([("no_answer", None), ("completed", "booked")], {"waiting_for_retry"}, owner=None)
    manager = _signed_in_context(browser, live_server, demo, _signed_in_states, "manager")
    rep = _signed_in_context(browser, live_server, demo, _signed_in_states, "sales")
    try:
        # A manager hands the lead to Sarah, then to Sven (owner changes in the audit log).
        page = manager.new_page()
        for owner in ("sales_b", "sales"):
            page.goto(f"/leads/{chain.lead_id}/edit")
            page.select_option("#f-owner_id", str(demo.users[owner].id))
            page.get_by_role("button", name="Speichern", exact=True).click()
            expect(page.locator(".flashes")).to_contain_text("Der Lead wurde gespeichert.")
        # Sven asks for a call now: the chain's second attempt books.
        page = rep.new_page()
        page.goto(f"/leads/{chain.lead_id}")
        page.get_by_role("button", name="Jetzt anrufen").click()
        expect(page.locator(".flashes")).to_contain_text("Die Kette ruft jetzt an")
        _wait_for_stage(app, chain.lead_id, {"booked"}, page)
    finally:
        manager.close()
        rep.close()

    def qualify():
        call_id = (
            db.session.scalar(
                sa.select(Interaction.provider_ref)
                .where(Interaction.lead_id == chain.lead_id, Interaction.kind == InteractionKind.CALL)
                .order_by(Interaction.id.desc())
                .limit(1)
            )
            or "call-1"
        )
        record_qualification(
            chain.lead_id,
            call_id,
            {"need": "Angebot für 5 Standorte", "timing": "nächstes Quartal", "decision_maker": True},
        )

    in_app(app, qualify)
    return chain


def _visible_text(page) -> str:
    return page.locator("body").inner_text()


def test_the_lead_page_with_a_real_chain_history_is_german(open_page, screenshot, history_lead):
    page = open_page("sales", viewport="phone", lang="de")
    page.goto(f"/leads/{history_lead.lead_id}")
    page.locator("details").evaluate_all("els => els.forEach(d => d.open = true)")  # history and transcripts too
    text = _visible_text(page)
    # What the chain did, in German (the chain wrote it in English)
    for german in (
        "Versuch 1",
        "Versuch 2",
        "Nicht erreicht",
        "Anruf über retell",
        "Anruf vom Vertrieb angefordert",
        "Termin im Gespräch gebucht",
        "Gebuchten Termin vorbereiten",
        "erste Bewertung",
        "Kette: Termin gebucht",
        "von der Kette",
    ):
        assert german in text, f"{german!r} missing from the German lead page"
    # Score factors and their details, consent proof, owner changes by name, the qualification as text
    for german in (
        "Einwilligung in Anrufe",
        "ausdrückliche Einwilligung in Anrufe",
        "Telefonnummer vorhanden",
        "Interesse angegeben",
        "Einwilligungsfeld beantwortet mit „ja“",
        "Betreuer: Sarah Sales → Sven Sales",
        "Bedarf: Angebot für 5 Standorte",
        "Zeitrahmen: nächstes Quartal",
        "Entscheider: ja",
        "Aufgabe angelegt",
        "Terminvorbereitung",
    ):
        assert german in text, f"{german!r} missing from the German lead page"
    found = [phrase for phrase in ENGLISH if phrase in text]
    assert not found, f"English on the German lead page: {found}"
    assert not RAW_ACTION.findall(text), RAW_ACTION.findall(text)
    assert not DICT_DUMP.findall(text), DICT_DUMP.findall(text)
    assert not USER_ID.findall(text), USER_ID.findall(text)
    # A finished chain offers neither pause nor cancel.
    expect(page.get_by_role("button", name="Kette pausieren")).to_have_count(0)
    expect(page.get_by_role("button", name="Kette abbrechen")).to_have_count(0)
    assert page.evaluate("window.innerWidth") == 375
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "lead-with-chain-history-de-phone")


def test_the_chains_task_is_german_on_the_task_list(open_page, history_lead):
    page = open_page("sales", viewport="phone", lang="de")
    page.goto("/tasks")
    row = page.locator("tr", has=page.locator(f"a[href='/leads/{history_lead.lead_id}']"))
    expect(row).to_contain_text("Gebuchten Termin vorbereiten")
    text = _visible_text(page)
    assert "Prepare the booked appointment" not in text and "Call back the interested lead" not in text
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_same_history_in_english_for_the_owner(open_page, history_lead):
    page = open_page("sales", lang="en")
    page.goto(f"/leads/{history_lead.lead_id}?lang=en")
    text = _visible_text(page)
    for english in (
        "attempt 1: No answer",
        "call requested by a rep",
        "appointment booked on the call",
        "Prepare the booked appointment",
        "Consent to calls",
        "express consent to calls",
        "Owner: Sarah Sales → Sven Sales",
        "Need: Angebot für 5 Standorte",
        "Decision maker: yes",
    ):
        assert english in text, f"{english!r} missing from the English lead page"
    assert not RAW_ACTION.findall(text) and not DICT_DUMP.findall(text) and not USER_ID.findall(text)


def test_a_screenshot_of_the_german_lead_page(open_page, screenshot, history_lead, live_server):
    """The German lead page on a laptop with its score breakdown, the timeline and an open task of every
    kind (the chain's, the inbound reply's written in English, a rep's own), saved as a full-page PNG in
    artifacts/screenshots/. LEADCHAIN_UPDATE_SCREENSHOTS=1 also writes docs/screenshots/lead-page-de.png."""

    def add_tasks() -> list[int]:
        lead = db.session.get(Lead, history_lead.lead_id)
        due = datetime.now(UTC) + timedelta(days=1)
        for n, (kind, title) in enumerate(
            (
                (TaskKind.CALLBACK, "Call back the interested lead"),
                (TaskKind.EMAIL_REPLY, f"Email reply from {lead.display_name}"),
                (TaskKind.PREPARE, "Unterlagen für die Demo drucken"),
                (TaskKind.FOLLOW_UP, "Nach der Demo nachfassen"),
                (TaskKind.REVIEW, "Qualifizierung prüfen"),
                (TaskKind.TODO, "Angebot schicken"),
            )
        ):
            added.append(
                Task(lead_id=lead.id, owner_id=lead.owner_id, kind=kind, title=title, due_at=due + timedelta(hours=n))
            )
        db.session.add_all(added)
        db.session.commit()
        return [t.id for t in added]

    def remove_tasks() -> None:
        # The module's other tests look at the lead's chain task alone.
        db.session.execute(sa.delete(Task).where(Task.id.in_(ids)))
        db.session.commit()

    added: list[Task] = []
    ids = in_app(live_server.app, add_tasks)
    try:
        _screenshot_the_german_lead_page(open_page, screenshot, history_lead.lead_id)
    finally:
        in_app(live_server.app, remove_tasks)


def _screenshot_the_german_lead_page(open_page, screenshot, lead_id: int) -> None:
    page = open_page("sales", viewport="laptop", lang="de")
    page.goto(f"/leads/{lead_id}")
    page.locator("details").evaluate_all("els => els.forEach(d => d.open = true)")
    for german in (
        "Warum: Punkte je Faktor",
        "Einwilligung in Anrufe",
        "Telefonnummer vorhanden",
        "Offene Aufgaben",
        "Gebuchten Termin vorbereiten",
        "Interessierten Lead zurückrufen",
        "E-Mail-Antwort von",
        "Terminvorbereitung",
        "Rückruf",
        "E-Mail beantworten",
        "Versuch 1",
        "Kette: Termin gebucht",
    ):
        expect(page.get_by_text(german).first).to_be_visible()
    text = _visible_text(page)
    found = [phrase for phrase in ENGLISH + ["Email reply from", "Answer the email", "Callback"] if phrase in text]
    assert not found, f"English on the German lead page: {found}"
    path = screenshot(page, "lead-page-de")
    if os.environ.get("LEADCHAIN_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOT)
