"""Settings (crm.ui.settings): admins only; sales and managers get 403, nothing changes."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.models import AppSetting, Campaign, Company, User
from crm.tenancy.context import require_company_id
from tests.ui.route_expectations import Route, Subject

ADMIN_PAGE = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 200}
ADMIN_ACTION = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 302}


def users_snapshot(s: Subject):
    return sorted((u.id, u.email, u.role.value, u.active, u.password_hash) for u in db.session.scalars(sa.select(User)))


def _campaign(s: Subject) -> dict:
    found = db.session.scalar(sa.select(Campaign.id).where(Campaign.name == "matrix"))
    if found is not None:
        return {"campaign_id": found}
    campaign = Campaign(
        name="matrix",
        provider="retell",
        agent_id="agent_x",
        from_number="+4930555000",
        language="de",
        script_variables={},
    )
    db.session.add(campaign)
    db.session.commit()
    return {"campaign_id": campaign.id}


def campaign_snapshot(s: Subject):
    c = db.session.get(Campaign, s.extra["campaign_id"])
    return (c.provider, c.agent_id, c.from_number, c.failover_provider, c.active, c.is_default)


def app_settings_snapshot(s: Subject):
    return sorted((row.key, repr(row.value), row.updated_by) for row in db.session.scalars(sa.select(AppSetting)))


def _stored(key: str, value):
    """A stored override for the reset routes (so an admin's reset has something to delete)."""

    def setup(s: Subject) -> dict:
        if db.session.get(AppSetting, (require_company_id(), key)) is None:
            db.session.add(AppSetting(key=key, value=value, updated_by="matrix"))
            db.session.commit()
        return {}

    return setup


def company_snapshot(s: Subject):
    row = db.session.get(Company, require_company_id())
    return tuple(getattr(row, f) for f in ("name", "timezone", "state", "brand_color", "logo_url", "imprint"))


RULES_YAML = 'version: "matrix"\nthresholds: {hot: 70, warm: 40}\ngate_threshold: 50\n'
HOURS = {
    "region": ["DE", "default"],
    "days": ["mon-fri", "mon-sat"],
    "start": ["09:00", "10:00"],
    "end": ["20:00", "18:00"],
}

ROUTES = {
    "settings.index": Route(expect=ADMIN_PAGE),
    "settings.company": Route(expect=ADMIN_PAGE),
    "settings.save_company": Route(
        method="POST",
        snapshot=company_snapshot,
        data=lambda s: {
            "name": "Matrix GmbH",
            "timezone": "Europe/Vienna",
            "state": "HH",
            "language": "en",
            "brand_color": "#123456",
            "imprint": "Matrix GmbH\nWien",
        },
        expect=ADMIN_ACTION,
    ),
    # The company's colour as a stylesheet: empty without a company (anonymous), nothing else in it.
    "settings.brand_css": Route(expect={"anonymous": 200, "sales": 200, "manager": 200, "admin": 200}),
    "settings.users": Route(expect=ADMIN_PAGE),
    "settings.scoring": Route(expect=ADMIN_PAGE),
    "settings.calling_hours": Route(expect=ADMIN_PAGE),
    "settings.campaigns": Route(expect=ADMIN_PAGE),
    "settings.providers": Route(expect=ADMIN_PAGE),
    "settings.create_user": Route(
        method="POST",
        snapshot=users_snapshot,
        data=lambda s: {
            "email": "new.person@example.test",
            "name": "New Person",
            "role": "admin",
            "language": "en",
            "password": "a sufficiently long new password",
        },
        expect=ADMIN_ACTION,
    ),
    "settings.change_role": Route(
        method="POST",
        snapshot=users_snapshot,
        url_args=lambda s: {"user_id": s.team.sales_b.id},
        data=lambda s: {"role": "admin"},
        expect=ADMIN_ACTION,
    ),
    "settings.set_active": Route(
        method="POST",
        snapshot=users_snapshot,
        url_args=lambda s: {"user_id": s.team.sales_b.id},
        data=lambda s: {"active": "0"},
        expect=ADMIN_ACTION,
    ),
    "settings.set_user_password": Route(
        method="POST",
        snapshot=users_snapshot,
        url_args=lambda s: {"user_id": s.team.sales_b.id},
        data=lambda s: {"password": "another sufficiently long password"},
        expect=ADMIN_ACTION,
    ),
    "settings.update_campaign": Route(
        method="POST",
        setup=_campaign,
        snapshot=campaign_snapshot,
        url_args=lambda s: {"campaign_id": s.extra["campaign_id"]},
        data=lambda s: {
            "provider": "vapi",
            "agent_id": "assistant_x",
            "from_number": "pn_1",
            "language": "de",
            "failover_provider": "",
            "active": "1",
            "is_default": "1",
        },
        expect=ADMIN_ACTION,
    ),
    "settings.save_scoring_rules": Route(
        method="POST", snapshot=app_settings_snapshot, data=lambda s: {"rules": RULES_YAML}, expect=ADMIN_ACTION
    ),
    "settings.reset_scoring_rules": Route(
        method="POST", setup=_stored("scoring.rules", RULES_YAML), snapshot=app_settings_snapshot, expect=ADMIN_ACTION
    ),
    "settings.save_gate_threshold": Route(
        method="POST", snapshot=app_settings_snapshot, data=lambda s: {"threshold": "65"}, expect=ADMIN_ACTION
    ),
    "settings.reset_gate_threshold": Route(
        method="POST", setup=_stored("gate.threshold", 65), snapshot=app_settings_snapshot, expect=ADMIN_ACTION
    ),
    "settings.save_calling_hours": Route(
        method="POST", snapshot=app_settings_snapshot, data=lambda s: HOURS, expect=ADMIN_ACTION
    ),
    "settings.reset_calling_hours": Route(
        method="POST",
        setup=_stored("calling_hours", {"AT": {"days": [0, 1, 2, 3, 4], "start": "10:00", "end": "18:00"}}),
        snapshot=app_settings_snapshot,
        expect=ADMIN_ACTION,
    ),
}
