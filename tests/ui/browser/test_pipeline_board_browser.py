"""The pipeline board in Chromium: a deal dragged to another stage with the mouse (German) and moved with the
arrow keys and the "Move to" form (English), each persisted (the page reloaded) with the column totals and
the month's forecast following; a deal marked lost with a reason (German) and one marked won (English).

The deals are tests/ui/browser/deals_seed.py's, one per test, on boards filtered to their owner, so the totals
asserted are known: the stages are the company's German defaults (Erstgespräch 20 %, Angebot 50 %,
Verhandlung 75 %)."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def _money(text: str) -> re.Pattern[str]:
    # babel writes a no-break space between amount and sign in German ("10.000,00\xa0€").
    return re.compile(r"^\s*" + re.escape(text).replace(r"\ ", r"\s") + r"\s*$")


def _column(page, index: int):
    return page.locator("[data-board] [data-stage-id]").nth(index)


def _board(open_page, role: str, path: str):
    page = open_page(role)
    page.goto(path)
    expect(page.locator("[data-board].is-enhanced")).to_be_visible()  # deals.js is running
    return page


def test_drag_a_deal_with_the_mouse(open_page, demo, screenshot):
    page = _board(open_page, "manager", f"/deals?owner={demo.users['sales_b'].id}")
    screenshot(page, "pipeline-board-de")
    card = page.locator(f"[data-deal='{demo.deals['koch']}']")
    first, second = _column(page, 0), _column(page, 1)
    expect(first.locator("[data-total]")).to_have_text(_money("10.000,00 €"))
    expect(first.locator("[data-weighted]")).to_have_text(_money("2.000,00 €"))
    expect(page.locator("[data-forecast]")).to_have_text(_money("2.000,00 €"))

    card.drag_to(second.locator("[data-cards]"))

    expect(page.locator("#board-status")).to_have_text("„Kanzlei-Lizenz“ ist jetzt in Angebot.")
    expect(second.locator("[data-cards]").locator(f"[data-deal='{demo.deals['koch']}']")).to_be_visible()
    expect(first.locator("[data-count]")).to_have_text("0 Deals")
    expect(second.locator("[data-weighted]")).to_have_text(_money("5.000,00 €"))
    expect(page.locator("[data-forecast]")).to_have_text(_money("5.000,00 €"))
    page.reload()
    expect(_column(page, 1).locator(f"[data-deal='{demo.deals['koch']}']")).to_be_visible()
    expect(_column(page, 1).locator("[data-total]")).to_have_text(_money("10.000,00 €"))


def test_move_a_deal_with_the_keyboard(open_page, demo):
    page = _board(open_page, "sales", "/deals?lang=en")  # Sven's own deals: braun (first stage), weber (second)
    braun = f"[data-deal='{demo.deals['braun']}']"
    expect(page.locator("[data-forecast]")).to_have_text(_money("€800.00"))

    page.locator(braun).focus()
    page.keyboard.press("ArrowRight")

    expect(page.locator("#board-status")).to_have_text("“Lagerflächen” is now in Angebot.")
    expect(_column(page, 1).locator("[data-count]")).to_have_text("2 deals")
    expect(_column(page, 1).locator("[data-total]")).to_have_text(_money("€16,000.00"))
    expect(_column(page, 1).locator("[data-weighted]")).to_have_text(_money("€8,000.00"))
    expect(page.locator("[data-forecast]")).to_have_text(_money("€2,000.00"))
    expect(page.locator(braun)).to_be_focused()  # the focus stays on the moved card
    page.reload()
    expect(_column(page, 1).locator(braun)).to_be_visible()

    # The same move back through the card's labelled "Move to…" select, by keyboard only.
    page.locator(braun).get_by_label("Move to…").focus()
    page.keyboard.press("Home")  # the first stage
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#board-status")).to_have_text("“Lagerflächen” is now in Erstgespräch.")
    expect(page.locator("[data-forecast]")).to_have_text(_money("€800.00"))
    page.reload()
    expect(_column(page, 0).locator(braun)).to_be_visible()


def test_mark_lost_with_a_reason_and_won(open_page, demo):
    page = _board(open_page, "manager", f"/deals?owner={demo.users['manager'].id}")
    card = page.locator(f"[data-deal='{demo.deals['fischer']}']")
    card.get_by_text("Gewonnen oder verloren…").click()
    card.get_by_label("Grund").select_option(label="Wettbewerber")
    card.get_by_role("button", name="Als verloren markieren").click()
    expect(page.locator(".flash-success")).to_have_text("Als verloren markiert.")
    expect(page.locator(f"[data-deal='{demo.deals['fischer']}']")).to_have_count(0)
    assert f"owner={demo.users['manager'].id}" in page.url  # back on the same filtered board
    page.goto(f"/deals/{demo.deals['fischer']}")
    expect(page.locator("[data-deal-status]")).to_have_text("Verloren")
    expect(page.locator(".deal-facts")).to_contain_text("Wettbewerber")

    page = _board(open_page, "sales_b", "/deals")  # Sarah works in English
    card = page.locator(f"[data-deal='{demo.deals['miller']}']")
    card.get_by_text("Won or lost…").click()
    card.get_by_role("button", name="Mark won").click()
    expect(page.locator(".flash-success")).to_have_text("Marked won.")
    expect(page.locator(f"[data-deal='{demo.deals['miller']}']")).to_have_count(0)
    page.goto(f"/deals/{demo.deals['miller']}")
    expect(page.locator("[data-deal-status]")).to_have_text("Won")
