"""The leads area in Chromium, as a sales rep works it: find a lead by search (htmx), read its timeline
and a call transcript, add a task, merge a flagged duplicate, mark do-not-contact, pause and resume a
real chain on the Temporal dev server; editing that cannot change owner or consent unless the role
allows it; the list as cards on a 375 px phone, used with the keyboard."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from playwright.sync_api import expect

from crm.extensions import db
from crm.models import AuditEntry, Lead, LeadStatus, PossibleDuplicate, Task
from tests.helpers import in_app


def _lead(app, owner_id: int | None, **values) -> int:
    """A lead of our own for a test that changes data (the shared demo data stays as seeded)."""
    tag = uuid.uuid4().hex[:8]
    with app.app_context():
        lead = Lead(
            source="website",
            owner_id=owner_id,
            email=f"b-{tag}@demo.example",
            email_key=f"b-{tag}@demo.example",
            **values,
        )
        db.session.add(lead)
        db.session.commit()
        lead_id = lead.id
        db.session.remove()
        return lead_id


_db = in_app


def _accept_dialogs(page) -> None:
    # Forms with data-confirm ask window.confirm(); Playwright would dismiss it.
    page.on("dialog", lambda dialog: dialog.accept())


def test_find_a_lead_and_read_its_timeline_and_transcript(open_page, demo):
    page = open_page("sales")
    page.goto("/leads")
    results = page.locator("#lead-results")
    page.fill("#lead-q", "030 2312 5101")  # a phone number as a rep would type it
    expect(results.locator(".result-count")).to_have_text("1 Lead")
    expect(results.get_by_role("link", name="Jürgen Weber")).to_be_visible()
    assert parse_qs(urlsplit(page.url).query)["q"] == ["030 2312 5101"]  # htmx pushed the search into the URL
    page.fill("#lead-q", "Krause")  # company: the lead and its duplicate
    expect(results.locator(".result-count")).to_have_text("2 Leads")
    results.get_by_role("link", name="Jürgen Weber").click()
    page.wait_for_url(f"**/leads/{demo.leads['weber']}")
    expect(page.locator("h1")).to_have_text("Jürgen Weber")

    call = page.locator(".tl-call", has_text="Interessiert")
    expect(call).to_contain_text("Interessiert an einem Angebot für fünf Standorte")
    expect(call).to_contain_text("Positiv")
    expect(call).to_contain_text("0,42 €")
    expect(page.locator(".tl-email").first).to_contain_text("Geöffnet")
    expect(page.locator(".tl-audit").first).to_be_visible()
    turns = call.locator(".turn")
    expect(turns.first).to_be_hidden()  # the transcript opens on demand
    call.locator("summary").click()
    expect(turns).to_have_count(5)
    expect(turns.nth(0)).to_have_text("Agent: Guten Tag Herr Weber, hier ist der digitale Assistent von Leadchain.")
    expect(turns.nth(1)).to_have_text("Anrufer: Ja, hallo. Es geht um das Angebot für unsere Werkstätten?")


def test_add_a_task(open_page, demo, live_server):
    page = open_page("sales")
    page.goto(f"/leads/{demo.leads['braun']}")
    page.fill("#task-title", "Lieferschein prüfen")
    page.fill("#task-due", "2030-05-06T10:30")
    page.get_by_role("button", name="Aufgabe speichern").click()
    expect(page.locator(".flashes")).to_contain_text("Die Aufgabe wurde angelegt.")
    expect(page.locator(".open-tasks")).to_contain_text("Lieferschein prüfen")
    expect(page.locator(".tl-task", has_text="Lieferschein prüfen")).to_contain_text("06.05.30, 10:30")
    task = _db(live_server.app, lambda: db.session.scalar(sa.select(Task).where(Task.title == "Lieferschein prüfen")))
    assert task.due_at == datetime(2030, 5, 6, 8, 30, tzinfo=UTC)  # 10:30 in Berlin, stored UTC
    assert task.owner_id == demo.users["sales"].id
    # An empty title is refused with the reason next to the field
    page.fill("#task-title", "")
    page.locator("#task-title").evaluate("el => el.removeAttribute('required')")
    page.get_by_role("button", name="Aufgabe speichern").click()
    expect(page.locator("#title-error")).to_have_text("Bitte geben Sie der Aufgabe einen Titel.")


def test_merge_a_flagged_duplicate(open_page, demo, live_server):
    app, sven = live_server.app, demo.users["sales"].id
    keep = _lead(app, sven, first_name="Karla", last_name="Zusammen", company="Zusammen GmbH")
    dup = _lead(app, sven, first_name="Karla", last_name="Zusammen", phone_e164="+493023199001")

    def flag():
        db.session.add(PossibleDuplicate(lead_id=dup, candidate_id=keep, similarity=0.95, reason="same name"))
        db.session.commit()

    _db(app, flag)
    page = open_page("sales")
    _accept_dialogs(page)
    page.goto(f"/leads/{keep}")
    section = page.locator("section.duplicates")
    expect(section).to_contain_text("Ähnlichkeit 95 %")
    section.get_by_role("button", name="In diesen Lead zusammenführen").click()
    expect(page.locator(".flashes")).to_contain_text(f"Lead #{dup} wurde in diesen Lead zusammengeführt.")
    expect(page.locator("section.duplicates")).to_have_count(0)
    expect(page.locator(".facts").first).to_contain_text("+493023199001")  # the duplicate's phone filled the gap
    expect(page.locator(".tl-audit", has_text="Dublette zusammengeführt")).to_be_visible()
    merged = _db(app, lambda: db.session.get(Lead, dup))
    assert merged.merged_into_id == keep and merged.status == LeadStatus.MERGED
    assert page.goto(f"/leads/{dup}").status == 404


def test_mark_do_not_contact(open_page, demo, live_server):
    lead_id = demo.leads["hoffmann"]
    page = open_page("sales")
    _accept_dialogs(page)
    page.goto(f"/leads/{lead_id}")
    page.fill("#dnc-reason", "Keine Anrufe mehr gewünscht")
    page.get_by_role("button", name="Nicht mehr kontaktieren").click()
    expect(page.locator(".flashes")).to_contain_text("Als „nicht kontaktieren“ markiert")
    expect(page.locator(".lead-head")).to_contain_text("Nicht kontaktieren")
    expect(page.get_by_role("button", name="Jetzt anrufen")).to_have_count(0)
    lead = _db(live_server.app, lambda: db.session.get(Lead, lead_id))
    assert lead.do_not_contact and lead.dnc_reason == "Keine Anrufe mehr gewünscht"


def test_pause_and_resume_a_running_chain(running_chain, open_page, live_server, demo):
    chain = running_chain(owner="sales")
    page = open_page("sales")
    page.goto(f"/leads/{chain.lead_id}")
    card = page.locator("section[aria-labelledby=chain-h]")
    expect(card).to_contain_text("Wartet auf den nächsten Versuch")
    page.get_by_role("button", name="Kette pausieren").click()
    expect(page.locator(".flashes")).to_contain_text("Die Kette wird pausiert.")
    resume = page.get_by_role("button", name="Kette fortsetzen")
    for _ in range(50):  # the signal reaches the workflow in a moment
        if resume.count():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(resume).to_be_visible()
    expect(card).to_contain_text("Pausiert")
    resume.click()
    expect(page.locator(".flashes")).to_contain_text("Die Kette wird fortgesetzt.")
    pause = page.get_by_role("button", name="Kette pausieren")
    for _ in range(50):
        if pause.count():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(pause).to_be_visible()
    actor = f"ui:{demo.users['sales'].id}"
    actions = _db(
        live_server.app,
        lambda: set(
            db.session.scalars(
                sa.select(AuditEntry.action).where(AuditEntry.entity_id == chain.lead_id, AuditEntry.actor == actor)
            )
        ),
    )
    assert {"chain.pause_requested", "chain.resume_requested"} <= actions


def test_editing_cannot_change_owner_or_consent_unless_the_role_allows_it(open_page, demo, live_server):
    app, sven, sarah = live_server.app, demo.users["sales"].id, demo.users["sales_b"].id
    lead_id = _lead(app, sven, first_name="Edith", last_name="Feld", company="Feld KG")
    rep = open_page("sales")
    rep.goto(f"/leads/{lead_id}/edit")
    expect(rep.locator("#f-owner_id")).to_have_count(0)
    expect(rep.locator("#f-consent_action")).to_have_count(0)
    rep.fill("#f-company", "Feld & Söhne KG")
    # A crafted form: the fields a rep may not change, added to the page by hand.
    rep.locator("form.edit-form").evaluate(
        """(form, values) => {
        for (const [name, value] of Object.entries(values)) {
            const input = document.createElement('input');
            input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);
        }
    }""",
        {
            "owner_id": str(sarah),
            "priority": "hot",
            "role": "admin",
            "consent_action": "grant",
            "consent_channel": "phone",
            "consent_basis": "express_consent",
            "consent_proof": "x",
        },
    )
    rep.get_by_role("button", name="Speichern", exact=True).click()
    expect(rep.locator(".flashes")).to_contain_text("Der Lead wurde gespeichert.")
    lead = _db(app, lambda: db.session.get(Lead, lead_id))
    assert lead.company == "Feld & Söhne KG" and lead.owner_id == sven and lead.priority is None
    assert (
        _db(
            app,
            lambda: db.session.scalar(
                sa.text("SELECT count(*) FROM consent_records WHERE lead_id = :id"), {"id": lead_id}
            ),
        )
        == 0
    )

    manager = open_page("manager")
    manager.goto(f"/leads/{lead_id}/edit")
    expect(manager.locator("#f-consent_action")).to_have_count(0)
    manager.select_option("#f-owner_id", str(sarah))
    manager.get_by_role("button", name="Speichern", exact=True).click()
    expect(manager.locator(".facts").first).to_contain_text("Sarah Sales")
    assert _db(app, lambda: db.session.get(Lead, lead_id).owner_id) == sarah

    admin = open_page("admin")
    admin.goto(f"/leads/{lead_id}/edit")
    admin.select_option("#f-consent_action", "grant")
    admin.select_option("#f-consent_channel", "phone")
    admin.fill("#f-consent_proof", "Unterschriebenes Formular, Messe Hannover")
    admin.get_by_role("button", name="Speichern", exact=True).click()
    expect(admin.locator(".consents")).to_contain_text("Unterschriebenes Formular, Messe Hannover")


def test_the_list_on_a_phone_with_the_keyboard(open_page, demo):
    page = open_page("sales", viewport="phone")
    page.goto("/leads")
    assert page.locator(".lead-table thead").evaluate("el => el.getBoundingClientRect().height") <= 1
    first = page.locator(".lead-table tbody tr").first
    assert first.evaluate("el => getComputedStyle(el).display") == "block"  # a card, not a table row
    label = first.locator("td[data-label]").first.evaluate("el => getComputedStyle(el, '::before').content")
    assert label.strip('"') == "Name"
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1
    # Keyboard only: into the search field, type, the results follow; the first result opens with Enter.
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == "lead-q":
            break
    else:
        raise AssertionError("the search field is not reachable with Tab")
    page.keyboard.type("Krause")
    expect(page.locator("#lead-results .result-count")).to_have_text("2 Leads")
    # The search refreshes the results once per pause in typing: a swap that lands after the link got the
    # focus replaces the focused link and the Enter goes nowhere. Wait until htmx has no request running.
    # A refresh still waiting out its typing delay has no .htmx-request yet: wait for the network to go quiet.
    page.wait_for_load_state("networkidle")
    page.wait_for_function("!document.querySelector('.htmx-request')")
    link = page.locator("#lead-results").get_by_role("link", name="Jürgen Weber")
    link.press("Enter")  # focuses the link (found afresh), then the key: keyboard only
    # The lead page asks Temporal for the chain's status (bounded at 10 s by the gateway when it does not
    # answer), so its load may take longer than Playwright's default wait on a busy CI machine.
    page.wait_for_url(f"**/leads/{demo.leads['weber']}", timeout=30_000)
    summary = page.locator(".tl-call summary").first
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".tl-call .turn").first).to_be_visible()
