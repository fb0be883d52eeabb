"""The demo company's deals for the browser tests (tests/ui/browser/conftest.py seed_demo calls seed_deals).

Each test that changes a deal has one of its own, owned so that a board filtered by its owner shows known
totals: Sven's board ("braun" 4,000 in the first stage closing this month, "weber" 12,000 in the second with
no date) for the keyboard; Sarah's ("koch" 10,000, first stage, closing this month) for the mouse, and her
"miller" (third stage) to mark won; Maria the manager's "fischer" to mark lost. "weber" is also the deal page
the phone-width test opens."""

from __future__ import annotations

from crm.models import Lead
from crm.services import deals as service
from crm.services.deal_metrics import company_today
from tests.ui.conftest import Member

# key: (lead, owner role, title, euros, stage index, closes this month)
DEALS = {
    "weber": ("weber", "sales", "Fünf Standorte", 12_000, 1, False),
    "braun": ("braun", "sales", "Lagerflächen", 4_000, 0, True),
    "koch": ("koch", "sales_b", "Kanzlei-Lizenz", 10_000, 0, True),
    "fischer": ("fischer", "manager", "Wartungsvertrag", 3_000, 1, False),
    "miller": ("miller", "sales_b", "Acme rollout", 8_000, 2, False),
}


def seed_deals(leads: dict[str, Lead], users: dict[str, Member]) -> dict[str, int]:
    """The deals of DEALS through crm.services.deals (inside the demo company's scope); {key: deal id}."""
    stages = service.ensure_defaults()
    today = company_today()
    made = {}
    for key, (lead, owner, title, euros, stage, closes) in DEALS.items():
        made[key] = service.create_deal(
            lead=leads[lead],
            actor="demo",
            title=title,
            value_cents=euros * 100,
            owner_id=users[owner].id,
            stage_id=stages[stage].id,
            expected_close_on=today if closes else None,
        ).id
    return made
