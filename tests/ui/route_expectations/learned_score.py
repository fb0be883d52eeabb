"""Settings -> learned score (crm.ui.settings.learned_score): admins only; sales and managers get 403, the
stored weight does not change."""

from __future__ import annotations

from tests.ui.route_expectations import Route
from tests.ui.route_expectations.settings import ADMIN_ACTION, ADMIN_PAGE, app_settings_snapshot

ROUTES = {
    "settings.learned_score": Route(expect=ADMIN_PAGE),
    "settings.save_learned_weight": Route(
        method="POST", snapshot=app_settings_snapshot, data=lambda s: {"weight": "0.7"}, expect=ADMIN_ACTION
    ),
}
