"""Settings → campaigns (provider, failover, language, the default campaign) and provider keys (whether each
is set, never its value)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for

from crm import secret_names
from crm.catalogs import N_
from crm.extensions import db
from crm.models import Campaign
from crm.secrets import SecretsError
from crm.services import audit
from crm.tenancy.context import require_company_id
from crm.ui.access import admin_only
from crm.ui.i18n import LANGUAGES, _
from crm.ui.settings.blueprint import actor, bp
from providers.settings import INSTALLATION_COMPANY, PROVIDER_NAMES, company_api_key, company_webhook_secret

PROVIDERS = PROVIDER_NAMES  # retell, vapi, bland, twilio_realtime
# (secret name, what it is for: translated when the page is drawn); values are never read into a page, only
# whether they exist.
# The voice providers' secrets a company has of its own (providers.settings); SendGrid's stay the installation's.
COMPANY_SECRETS = {
    secret_names.RETELL_API_KEY: lambda c: company_api_key(c, "retell"),
    secret_names.VAPI_API_KEY: lambda c: company_api_key(c, "vapi"),
    secret_names.VAPI_WEBHOOK_SECRET: lambda c: company_webhook_secret(c, "vapi"),
    secret_names.BLAND_API_KEY: lambda c: company_api_key(c, "bland"),
    secret_names.BLAND_WEBHOOK_SECRET: lambda c: company_webhook_secret(c, "bland"),
}
PROVIDER_SECRETS = (
    (secret_names.RETELL_API_KEY, N_("Retell API key")),
    (secret_names.VAPI_API_KEY, N_("Vapi API key")),
    (secret_names.VAPI_WEBHOOK_SECRET, N_("Vapi webhook secret")),
    (secret_names.BLAND_API_KEY, N_("Bland API key")),
    (secret_names.BLAND_WEBHOOK_SECRET, N_("Bland webhook secret")),
    (secret_names.SENDGRID_API_KEY, N_("SendGrid API key")),
    (secret_names.SENDGRID_WEBHOOK_PUBLIC_KEY, N_("SendGrid event webhook key")),
    (secret_names.SENDGRID_INBOUND_PUBLIC_KEY, N_("SendGrid inbound parse key")),
)


@bp.get("/campaigns")
@admin_only
def campaigns():
    """Campaigns with their provider and failover."""
    rows = db.session.scalars(sa.select(Campaign).order_by(Campaign.name)).all()
    return render_template("ui/settings/campaigns.html", campaigns=rows, providers=PROVIDERS, languages=LANGUAGES)


CAMPAIGN_FIELDS = (
    "provider",
    "agent_id",
    "from_number",
    "language",
    "failover_provider",
    "failover_agent_id",
    "failover_from_number",
    "active",
    "is_default",
)


@bp.post("/campaigns/<int:campaign_id>")
@admin_only
def update_campaign(campaign_id: int):
    """Change a campaign's provider, agent, number, language and failover (explicit fields only)."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    f = {k: (request.form.get(k) or "").strip() for k in CAMPAIGN_FIELDS}
    problems = []
    if f["provider"] not in PROVIDERS:
        problems.append(_("Please choose a provider."))
    if not f["agent_id"] or len(f["agent_id"]) > 100 or not f["from_number"] or len(f["from_number"]) > 64:
        problems.append(_("Agent and number are required."))
    failover = f["failover_provider"] or None
    if failover is not None and (failover not in PROVIDERS or failover == f["provider"]):
        problems.append(_("The failover must be another provider."))
    if failover and (not f["failover_agent_id"] or not f["failover_from_number"]):
        problems.append(_("A failover needs its own agent and number."))
    if len(f["failover_agent_id"]) > 100 or len(f["failover_from_number"]) > 64:
        problems.append(_("Agent and number are required."))
    if problems:
        for problem in problems:
            flash(problem, "error")
        return redirect(url_for("settings.campaigns")), 303
    before = audit.snapshot(campaign, CAMPAIGN_FIELDS)
    campaign.provider, campaign.agent_id, campaign.from_number = f["provider"], f["agent_id"], f["from_number"]
    campaign.language = f["language"] if f["language"] in LANGUAGES else campaign.language
    campaign.failover_provider = failover
    campaign.failover_agent_id = f["failover_agent_id"] if failover else None
    campaign.failover_from_number = f["failover_from_number"] if failover else None
    campaign.active = f["active"] == "1"
    if f["is_default"] == "1" and not campaign.is_default:
        db.session.execute(sa.update(Campaign).where(Campaign.id != campaign.id).values(is_default=False))
        campaign.is_default = True
    audit.record(
        actor(),
        "campaign.update",
        "campaign",
        campaign.id,
        before=before,
        after=audit.snapshot(campaign, CAMPAIGN_FIELDS),
    )
    db.session.commit()
    flash(_("Campaign %(name)s saved.", name=campaign.name), "success")
    return redirect(url_for("settings.campaigns"))


@bp.get("/providers")
@admin_only
def providers():
    """Which provider keys exist in Vault or the environment: "set" or "not set", never a value. The voice
    providers' are the company's own (companies/<id>/providers/...); company 1 falls back to the
    installation's (providers.factory), so its row names whichever is set."""
    secrets = current_app.extensions["leadchain.secrets"]
    company_id = require_company_id()
    rows = []
    for name, label in PROVIDER_SECRETS:
        names = [own(company_id)] if (own := COMPANY_SECRETS.get(name)) else []
        if not names or company_id == INSTALLATION_COMPANY:
            names.append(name)
        try:
            found = next((candidate for candidate in names if secrets.get_list(candidate)), None)
            state = "set" if found else "not_set"
        except SecretsError:
            found, state = None, "unknown"
        rows.append({"name": found or names[-1], "label": label, "state": state})
    return render_template("ui/settings/providers.html", rows=rows)
