"""The wizard's provider setup for the current company: its provider account (or the sandbox) and where a
new agent points (the CRM's public URL for webhooks, the voice bridge for the conversation; a Bland number's
agent runs at Bland and calls the CRM only)."""

from __future__ import annotations

from flask import current_app, request

from crm.extensions import db
from crm.models import Company
from crm.onboarding import progress
from crm.onboarding.vendor import AgentTargets, ProvisioningFailed, VendorSetup
from crm.secret_names import BRIDGE_RETELL_PATH_SECRET
from providers.factory import provider_endpoint, webhook_secret_for

# Where providers reach the voice bridge from outside; unset: the bridge's own host and port.
BRIDGE_PUBLIC_URL = "LEADCHAIN_BRIDGE_PUBLIC_URL"


def _public_url() -> str:
    settings = current_app.config["LEADCHAIN"]
    return str(settings.providers.public_url or settings.email.public_url or request.host_url).rstrip("/")


def targets(language: str) -> AgentTargets:
    settings = current_app.config["LEADCHAIN"]
    public = _public_url()
    bridge = current_app.config.get(BRIDGE_PUBLIC_URL) or f"http://{settings.bridge.host}:{settings.bridge.port}"
    secrets = current_app.extensions["leadchain.secrets"].get_list(BRIDGE_RETELL_PATH_SECRET)
    if not secrets:
        raise ProvisioningFailed("agent", "the voice bridge's path secret (bridge/retell-path-secret) is not set")
    ws_base = "ws" + bridge.rstrip("/").removeprefix("http")  # http→ws, https→wss
    return AgentTargets(
        webhook_base=public.rstrip("/"),
        bridge_base=bridge.rstrip("/"),
        retell_llm_websocket_url=f"{ws_base}/llm-websocket/{secrets[0]}",
        language=language,
    )


def vendor(provider: str, company_id: int, language: str, area_code: int = 415) -> VendorSetup:
    endpoint = provider_endpoint(
        current_app.config["LEADCHAIN"].providers, current_app.extensions["leadchain.secrets"], provider, company_id
    )
    if endpoint is None:
        raise ProvisioningFailed("agent", f"no {provider} account is configured")
    key, base_url = endpoint
    if provider == "bland":
        return _bland(key, base_url, company_id, language, area_code)
    where = targets(language)
    where = AgentTargets(**{**where.__dict__, "area_code": area_code})
    # The SDKs load here, when a wizard provisions: retell-sdk alone is about a second of imports, which every
    # web and worker process would otherwise pay at start.
    if provider == "retell":
        from crm.onboarding.retell_setup import RetellSetup

        return RetellSetup(api_key=key, base_url=base_url, targets=where)
    from crm.onboarding.vapi_setup import VapiSetup

    return VapiSetup(api_key=key, base_url=base_url, targets=where)


def _bland(key: str, base_url: str, company_id: int, language: str, area_code: int) -> VendorSetup:
    """Bland's agent runs at Bland on the number's configuration (crm.inbound.bland_config): no voice bridge, so no
    bridge path secret; the number calls the CRM, signed with the company's Bland webhook secret."""
    from crm.onboarding.bland_setup import BlandSetup

    settings = current_app.config["LEADCHAIN"].providers
    secret = webhook_secret_for(settings, current_app.extensions["leadchain.secrets"], "bland", company_id)
    public = _public_url()
    company = db.session.get(Company, company_id)
    return BlandSetup(
        api_key=key,
        base_url=base_url,
        targets=AgentTargets(
            webhook_base=public, bridge_base="", retell_llm_websocket_url="", language=language, area_code=area_code
        ),
        company_id=company_id,
        webhook_secret=secret,
        company_name=company.name if company is not None else "",
        # The hours of the wizard's second screen, as the Retell and Vapi numbers get them (crm.ui.onboarding).
        business_hours=(progress.progress(company_id).answers or {}).get("business_hours"),
    )
