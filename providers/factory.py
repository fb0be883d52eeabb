"""Build the voice providers from configuration: real services when a key is set, else the sandbox."""

from __future__ import annotations

import logging
import os

from flask import Flask

from providers.base import ProviderRegistry
from providers.bland import BlandProvider
from providers.vapi import VapiProvider

log = logging.getLogger(__name__)
REAL_BASE_URLS = {"retell": "https://api.retellai.com", "vapi": "https://api.vapi.ai", "bland": "https://api.bland.ai"}
SANDBOX_KEYS = {"retell": "key_sandbox_retell", "vapi": "sandbox-vapi-private-key", "bland": "sandbox-bland-key"}


def provider_settings(app: Flask, name: str) -> tuple[str, str] | None:
    """(api_key, base_url) for a provider, or None when it is not available at all."""
    secrets = app.extensions["leadchain.secrets"]
    key = secrets.get(f"providers/{name}-api-key")
    base = os.environ.get(f"LEADCHAIN_{name.upper()}_BASE_URL") or app.config.get(f"{name.upper()}_BASE_URL")
    sandbox = os.environ.get("LEADCHAIN_SANDBOX_URL") or app.config.get("SANDBOX_URL")
    if key:
        return key, base or REAL_BASE_URLS[name]
    if sandbox:
        # No key: the keyless local stack and the tests talk to the provider sandbox.
        return SANDBOX_KEYS[name], base or f"{sandbox.rstrip('/')}/{name}"
    return None


def _provider_class(name: str) -> type:
    if name == "retell":
        # Imported when a Retell provider is built, not at start-up: the Retell SDK takes seconds to import
        # (its generated pydantic types), and most processes never build one. A missing module is still an
        # ImportError here, never a provider silently left out.
        from providers.retell import RetellProvider

        return RetellProvider
    return {"vapi": VapiProvider, "bland": BlandProvider}[name]


def build_registry(app: Flask) -> ProviderRegistry:
    providers = {}
    for name in ("retell", "vapi", "bland"):
        settings = provider_settings(app, name)
        if settings is None:
            continue
        key, base_url = settings
        cls = _provider_class(name)
        kwargs = {}
        public = os.environ.get("LEADCHAIN_PUBLIC_URL") or app.config.get("PUBLIC_URL")
        if name == "bland" and public:
            # Bland posts its call webhook to the URL each call names.
            kwargs["webhook_url"] = f"{public.rstrip('/')}/webhooks/bland"
        providers[name] = cls(api_key=key, base_url=base_url, **kwargs)
    return ProviderRegistry(providers)


def registry(app: Flask) -> ProviderRegistry:
    """The app's providers, built once (tests may set LEADCHAIN_PROVIDER_FACTORY)."""
    found = app.extensions.get("leadchain.providers")
    if found is None:
        factory = app.config.get("LEADCHAIN_PROVIDER_FACTORY") or build_registry
        found = app.extensions["leadchain.providers"] = factory(app)
    return found


def webhook_secret(app: Flask, name: str) -> str | None:
    """The secret a provider's webhooks are verified with (Retell: the API key itself)."""
    secrets = app.extensions["leadchain.secrets"]
    if name == "retell":
        settings = provider_settings(app, "retell")
        return settings[0] if settings else None
    value: str | None = secrets.get(f"providers/{name}-webhook-secret")
    if value:
        return value
    if provider_settings(app, name) and not secrets.get(f"providers/{name}-api-key"):
        return {"vapi": "sandbox-vapi-server-secret", "bland": "sandbox-bland-webhook-secret"}.get(name)
    return None
