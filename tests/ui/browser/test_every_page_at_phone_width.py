"""Every UI page a role can open, at 375 px in German and English: a screenshot in artifacts/screenshots/,
no sideways scrolling (``document.documentElement.scrollWidth <= window.innerWidth``) and, in German, no
stored code shown as it is (``no_answer``, ``chain.booked``, ``ui:3``).

The list of pages is not written by hand: it is every GET route of ``app.url_map`` that
tests/ui/route_expectations (the route matrix's table) says answers 200 for the role, so a new page is
checked as soon as it exists. A route whose URL names a file (``.svg`` charts, ``.pdf`` reports) or a
call's recording is a download or media inside a page, not a page; a route without an expectation is
left to the route matrix (test_every_ui_route_has_an_expectation fails for it). URL arguments come from
``ARGUMENTS`` (the seeded demo data); a new argument name fails with a message saying to add it there."""

from __future__ import annotations

import re
import time

import pytest
from flask import url_for

from tests.ui.browser.conftest import VIEWPORTS
from tests.ui.route_expectations import all_routes, ui_endpoints

# role of the browser fixtures -> perspective of the route matrix (a rep looks at their own lead)
PERSPECTIVE = {None: "anonymous", "sales": "sales_own", "manager": "manager", "admin": "admin"}
ARGUMENTS = {
    "lead_id": lambda demo: demo.leads["weber"],  # Sven's lead, with calls, tasks and a duplicate
    "report_id": lambda demo: demo.report_id,
    "lang": lambda demo: "de",
    "appointment_id": lambda demo: demo.appointments["weber"],  # Sven's appointment on that lead
    "screen": lambda demo: "company",  # the setup wizard's first screen (crm.ui.onboarding)
    "request_id": lambda demo: demo.privacy_request_id,  # Hoffmann's export request (crm.ui.privacy)
    "deal_id": lambda demo: demo.deals["weber"],  # Sven's deal on that lead (crm.ui.deals)
}
FILE_URL = re.compile(r"(\.[a-z0-9]+|/recording)$")
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
PHONE_WIDTH = VIEWPORTS["phone"]["width"]


def pages_for(app, demo, role: str | None) -> list[tuple[str, str]]:
    """(endpoint, url) of every page `role` may open, from the URL map and the route matrix's table."""
    endpoints, routes = ui_endpoints(app), all_routes()
    perspective = PERSPECTIVE[role]
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint not in endpoints or "GET" not in (rule.methods or ()) or FILE_URL.search(rule.rule):
            continue
        gets = [r for r in routes.get(rule.endpoint, []) if r.method == "GET"]
        if not any(200 in r.expected(perspective) for r in gets):
            continue
        missing = set(rule.arguments) - set(ARGUMENTS)
        assert not missing, f"{rule.rule}: add a value for {sorted(missing)} to ARGUMENTS in {__name__}"
        with app.test_request_context():
            found.append((rule.endpoint, url_for(rule.endpoint, **{a: ARGUMENTS[a](demo) for a in rule.arguments})))
    return found


def test_the_page_list_comes_from_the_url_map(live_server, demo):
    """The derivation itself: each role gets its pages and no page it may not open."""
    app = live_server.app
    admin = dict(pages_for(app, demo, "admin"))
    sales = dict(pages_for(app, demo, "sales"))
    assert "settings.calling_hours" in admin and "settings.calling_hours" not in sales
    assert "reports.index" in dict(pages_for(app, demo, "manager")) and "reports.index" not in sales
    assert sales["leads.show"] == f"/leads/{demo.leads['weber']}"
    assert "dashboard.chart" not in admin and "reports.download" not in admin  # images and files
    # Signed out: the sign-in page and the company-account (OIDC) sign-in, docs/security.md
    assert [e for e, _u in pages_for(app, demo, None)] == ["auth.login", "oidc.choose"]


@pytest.mark.parametrize("role", [None, "sales", "manager", "admin"])
def test_every_page_fits_a_phone(open_page, screenshot, live_server, demo, role):
    pages = pages_for(live_server.app, demo, role)
    assert pages
    page = open_page(role, viewport="phone")
    too_wide, raw_codes, started = [], [], time.monotonic()
    for lang in ("de", "en"):
        for endpoint, url in pages:
            response = page.goto(f"{url}{'&' if '?' in url else '?'}lang={lang}", wait_until="load")
            assert response is not None and response.status == 200, f"{url}: {response and response.status}"
            assert response.headers.get("content-type", "").startswith("text/html"), url
            # A phone zooms a page wider than the screen out (innerWidth grows with it): both must hold.
            if page.evaluate("window.innerWidth") != PHONE_WIDTH or not page.evaluate(NO_SIDEWAYS_SCROLL):
                width = page.evaluate("document.documentElement.scrollWidth")
                culprit = page.evaluate(WIDEST)
                too_wide.append(f"{url} ({lang}): {width}px, widest {culprit}")
            if lang == "de":
                codes = set(STORED_CODE.findall(page.evaluate(TEXT_OUTSIDE_CODE)))
                if codes:
                    raw_codes.append(f"{url}: {sorted(codes)}")
            screenshot(page, f"phone-{role or 'anonymous'}-{endpoint.replace('.', '-')}-{lang}")
    assert not too_wide, "pages scroll sideways at 375 px:\n" + "\n".join(too_wide)
    assert not raw_codes, "stored codes shown as they are on German pages:\n" + "\n".join(raw_codes)
    assert time.monotonic() - started < 120


# Codes as stored (no_answer, chain.booked, lead.assigned, ui:3) in a page's words; the text of form fields,
# <pre> and <code> (e.g. the scoring rules' YAML an admin edits) is what it is and not checked.
STORED_CODE = re.compile(
    r"(?<![/\w.])[a-z]+_[a-z_]+\b(?!\.\w)|\b(?:chain|lead|task|consent|call|email)\.[a-z_]+\b|\b(?:ui|user):\d+\b"
)
TEXT_OUTSIDE_CODE = """(() => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll('textarea, pre, code, input, select, script, style').forEach(el => el.remove());
  return copy.textContent;
})()"""


# The element sticking out furthest on the right, to say in the failure what to fix.
WIDEST = """(() => {
  let worst = null, right = window.innerWidth;
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect().right;
    if (r > right + 0.5) { right = r; worst = el; }
  }
  if (!worst) return 'none';
  const text = (worst.textContent || '').trim().slice(0, 40);
  return `${worst.tagName.toLowerCase()}.${[...worst.classList].join('.')} "${text}" right=${Math.round(right)}`;
})()"""
