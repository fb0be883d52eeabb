"""The UI in Chromium: sign-in per role with its navigation, a report download, marking a task done
with the keyboard only, and screenshots of the main pages in German and English at laptop and phone
width (artifacts/screenshots/)."""

from __future__ import annotations

import struct
from urllib.parse import urlsplit

import pytest

from crm.extensions import db
from crm.models import Task, TaskStatus

NAV = {
    "sales": ["Dashboard", "Leads", "Anrufe", "Aufgaben", "Pipeline"],
    "manager": ["Dashboard", "Leads", "Anrufe", "Aufgaben", "Pipeline", "Berichte"],
    "admin": ["Dashboard", "Leads", "Anrufe", "Aufgaben", "Pipeline", "Berichte", "Einstellungen"],
}


@pytest.mark.parametrize("role", ["sales", "manager", "admin"])
def test_sign_in_shows_the_roles_navigation(open_page, role):
    page = open_page(role, fresh_login=True)
    assert urlsplit(page.url).path == "/"  # signed in, on the dashboard
    links = page.locator("nav.nav a").all_inner_texts()
    assert [t.strip() for t in links] == NAV[role]
    assert page.locator("nav.nav a[aria-current=page]").inner_text().strip() == "Dashboard"
    settings = page.goto("/settings")
    if role == "admin":
        assert settings.status == 200
    else:
        assert settings.status == 403
        assert page.locator("h1").inner_text().startswith("Zugriff verweigert")


def test_manager_downloads_a_report(open_page, demo, tmp_path):
    page = open_page("manager")
    page.goto("/reports?lang=en")
    link = page.locator(f"a[href='/reports/{demo.report_id}/en.pdf']")
    assert "PDF English" in link.inner_text()
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.startswith("leadchain-report-daily-") and download.suggested_filename.endswith(
        "-en.pdf"
    )
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    content = target.read_bytes()
    assert content.startswith(b"%PDF-") and b"%%EOF" in content[-1024:] and len(content) > 5000


def test_task_done_with_the_keyboard_only(open_page, demo, live_server):
    task_id = demo.tasks["keyboard"]
    page = open_page("sales")
    page.goto("/tasks")
    button_id = f"task-{task_id}-action"
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == button_id:
            break
    else:
        raise AssertionError("the task's button is not reachable with Tab")
    # The focus is visible (the outline of :focus-visible).
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    page.keyboard.press("Enter")
    row = page.locator(f"#task-{task_id}")
    row.locator(".badge-ok").wait_for()
    assert row.locator("form").count() == 0
    # htmx kept the focus on the row (the badge took over the button's id), not lost to <body>.
    assert page.evaluate("document.activeElement.id") == button_id
    with live_server.app.app_context():
        assert db.session.get(Task, task_id).status == TaskStatus.DONE
        db.session.remove()


# ------------------------------------------------------------------------------------- screenshots

PAGES = {
    # name: (role, path)
    "leads-list": ("sales", lambda demo: "/leads"),
    "lead-page": ("sales", lambda demo: f"/leads/{demo.leads['weber']}"),
    "dashboard": ("manager", lambda demo: "/"),
    "call-queue": ("sales", lambda demo: "/queue"),
}


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("viewport", ["laptop", "phone"])
@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("name", list(PAGES))
def test_screenshot(open_page, screenshot, demo, name, lang, viewport):
    role, path = PAGES[name]
    page = open_page(role, viewport=viewport, lang=lang)
    url = path(demo)
    response = page.goto(f"{url}{'&' if '?' in url else '?'}lang={lang}", wait_until="networkidle")
    assert response.status == 200, f"{url}: {response.status}"
    assert page.locator("html").get_attribute("lang") == lang
    # Every image drew (the dashboard's SVG charts come from their own route).
    broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    assert broken == []
    # Nothing wider than the window (no sideways scrolling of the whole page on a phone).
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"{name} is {overflow}px wider than the {viewport} window"
    file = screenshot(page, f"{name}-{lang}-{viewport}")
    data = file.read_bytes()
    width, height = _png_size(data)
    expected = 1366 if viewport == "laptop" else 375 * 2
    assert width == expected and height >= (800 if viewport == "laptop" else 812 * 2) and len(data) > 20_000


def test_a_running_chain_is_listed_with_its_retry_time(running_chain, open_page):
    """The running_chain fixture (for the lead-page tests) and the queue's retry group, end to end."""
    chain = running_chain(owner="sales")
    page = open_page("sales")
    page.goto("/queue?lang=en")
    retries = page.locator("section#retries")
    row = retries.locator("tr", has=page.locator(f"a[href='/leads/{chain.lead_id}']"))
    assert row.count() == 1
    assert "No answer" in row.inner_text() and "retell" in row.inner_text()
    assert row.locator("time").get_attribute("datetime")  # due one hour after it began waiting


UNNAMED_CONTROLS = """
[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href]')].filter(el => {
  const name = (el.getAttribute('aria-label') || '').trim()
    || (el.id && document.querySelector(`label[for="${el.id}"]`)?.textContent.trim())
    || (el.closest('label')?.textContent.trim()) || (el.textContent || '').trim()
    || (el.getAttribute('title') || '').trim();
  return !name;
}).map(el => el.outerHTML.slice(0, 120))
"""


@pytest.mark.parametrize(
    "role, path",
    [("sales", "/queue"), ("sales", "/tasks"), ("manager", "/"), ("manager", "/reports"), ("sales", "/?period=weekly")],
)
def test_every_control_has_a_name(open_page, role, path):
    page = open_page(role)
    page.goto(path)
    assert page.evaluate(UNNAMED_CONTROLS) == []
    assert page.locator("h1").count() == 1
    assert page.locator("img:not([alt])").count() == 0
