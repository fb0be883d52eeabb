"""The settings' users table at 375 px (see tests/ui/test_mobile_layout.py for the rest of the newcomer's
phone-width findings): each user is a card whose controls stay on the screen, with their labels shown."""

from __future__ import annotations

PHONE_CARD = """(() => {
  const rows = [...document.querySelectorAll('table.users-table tbody tr')];
  return rows.map(tr => {
    const box = tr.getBoundingClientRect();
    const controls = [...tr.querySelectorAll('select, input:not([type=hidden]), button')];
    const labels = [...tr.querySelectorAll('label')].filter(l => l.getBoundingClientRect().width > 0
      && getComputedStyle(l).clip !== 'rect(0px, 0px, 0px, 0px)');
    return {
      inside: controls.every(c => { const r = c.getBoundingClientRect();
        return r.left >= box.left - 0.5 && r.right <= box.right + 0.5 && r.right <= window.innerWidth + 0.5; }),
      controls: controls.length,
      labels: labels.map(l => l.textContent.trim()),
    };
  });
})()"""


def test_users_are_cards_with_labels_at_phone_width(open_page, screenshot, demo):
    page = open_page("admin", viewport="phone")
    page.goto("/settings/users?lang=de", wait_until="load")
    screenshot(page, "phone-admin-settings-users-cards-de")
    rows = page.evaluate(PHONE_CARD)
    assert len(rows) >= 4  # every demo user
    for row in rows:
        assert row["controls"] >= 5 and row["inside"], row  # role select + button, status button, password + button
        assert any(text.startswith("Rolle") for text in row["labels"]), row
        assert any("Passwort" in text for text in row["labels"]), row
    # The table box does not scroll sideways any more.
    assert page.evaluate(
        "(() => { const w = document.querySelector('table.users-table').closest('.table-wrap');"
        " return w.scrollWidth <= w.clientWidth; })()"
    )

    wide = open_page("admin", viewport="laptop")
    wide.goto("/settings/users?lang=de", wait_until="load")
    # From 48rem on it is a table with its header row again, and the labels are for screen readers only.
    assert wide.evaluate("getComputedStyle(document.querySelector('table.users-table thead')).display") == (
        "table-header-group"
    )
    assert wide.evaluate("getComputedStyle(document.querySelector('table.users-table tr')).display") == "table-row"
