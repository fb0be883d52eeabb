"""The wizard's provider setup for the current company: its provider account (or the sandbox) and where a
new agent points (the CRM's public URL for webhooks, the voice bridge for the conversation)."""

from __future__ import annotations

from flask import current_app, request

from crm.onboarding.vendor import AgentTargets, ProvisioningFailed, VendorSetup
from crm.secret_names import BRIDGE_RETELL_PATH_SECRET
from providers.factory import provider_endpoint

# Where providers reach the voice bridge from outside; unset: the bridge's own host and port.
BRIDGE_PUBLIC_URL = "LEADCHAIN_BRIDGE_PUBLIC_URL"


def targets(language: str) -> AgentTargets:
    settings = current_app.config["LEADCHAIN"]
    public = settings.providers.public_url or settings.email.public_url or request.host_url
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
    where = targets(language)
    where = AgentTargets(**{**where.__dict__, "area_code": area_code})
    # The SDKs load here, when a wizard provisions: retell-sdk alone is about a second of imports, which every
    # web and worker process would otherwise pay at start.
    if provider == "retell":
        from crm.onboarding.retell_setup import RetellSetup

        return RetellSetup(api_key=key, base_url=base_url, targets=where)
    from crm.onboarding.vapi_setup import VapiSetup

    return VapiSetup(api_key=key, base_url=base_url, targets=where)
