"""The admin's billing page: bad fields named with 422, the hard-limit banner on every page for everyone,
raising the limit clears it."""

from __future__ import annotations

import pytest

from crm.extensions import db
from tests.billing import sample_month
from tests.ui.conftest import *  # noqa: F403 - the UI fixtures (team, signed-in clients)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_limits_banner_and_bad_fields(ui_app, as_admin, as_sales_a):
    with ui_app.app_context():
        sample_month.account(sample_month.plan(hard_limit_cents=0))
        db.session.commit()
    page = as_admin.get("/billing/?month=2026-13")
    assert page.status_code == 422 and "month" in page.get_data(as_text=True)
    banner = "Ausgehende Anrufe sind pausiert"
    assert banner in as_sales_a.get("/tasks/").get_data(as_text=True)
    refused = as_admin.submit("/billing/limits", {"soft_limit_cents": "-5", "hard_limit_cents": "x"})
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "soft_limit_cents" in body and "hard_limit_cents" in body
    assert as_admin.submit("/billing/limits", {"hard_limit_cents": "500000"}).status_code == 302
    assert banner not in as_sales_a.get("/tasks/").get_data(as_text=True)
