"""Build the voice providers from the settings and secret values handed in: real services when a key is
set, else the sandbox. `build_registry` needs no Flask; `registry(app)` and `webhook_secret(app, name)` are
thin wrappers over the app's settings (app.config["LEADCHAIN"].providers) and secrets store."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from flask import Flask

from providers.base import ProviderRegistry, VoiceProvider
from providers.bland import BlandProvider
from providers.settings import API_KEY_SECRETS, PROVIDER_NAMES, REAL_BASE_URLS, WEBHOOK_SECRETS, ProviderSettings
from providers.vapi import VapiProvider

log = logging.getLogger(__name__)
SANDBOX_KEYS = {"retell": "key_sandbox_retell", "vapi": "sandbox-vapi-private-key", "bland": "sandbox-bland-key"}
SANDBOX_WEBHOOK_SECRETS = {"vapi": "sandbox-vapi-server-secret", "bland": "sandbox-bland-webhook-secret"}
REGISTRY_EXTENSION = "leadchain.providers"


class SecretReader(Protocol):
    """What the factory needs of crm.secrets.Secrets (providers/ does not import crm)."""

    def get(self, name: str) -> str | None: ...


def provider_endpoint(settings: ProviderSettings, secrets: SecretReader, name: str) -> tuple[str, str] | None:
    """(api_key, base_url) for a provider, or None when it is not available at all."""
    key = secrets.get(API_KEY_SECRETS[name])
    base = settings.base_url(name)
    if key:
        return key, base or REAL_BASE_URLS[name]
    sandbox = settings.sandbox()
    if sandbox:
        # No key: the keyless local stack and the tests talk to the provider sandbox.
        return SANDBOX_KEYS[name], base or f"{sandbox}/{name}"
    return None


def _provider_class(name: str) -> type:
    if name == "retell":
        # Imported when a Retell provider is built, not at start-up: the Retell SDK takes seconds to import
        # (its generated pydantic types), and most processes never build one. A missing module is still an
        # ImportError here, never a provider silently left out.
        from providers.retell import RetellProvider

        return RetellProvider
    return {"vapi": VapiProvider, "bland": BlandProvider}[name]


def build_registry(*, settings: ProviderSettings, secrets: SecretReader) -> ProviderRegistry:
    """Every provider that has a key (or the sandbox), each given its key and base URL by keyword."""
    providers: dict[str, VoiceProvider] = {}
    for name in PROVIDER_NAMES:
        endpoint = provider_endpoint(settings, secrets, name)
        if endpoint is None:
            continue
        key, base_url = endpoint
        kwargs: dict[str, Any] = {}
        if name == "bland" and settings.public_url:
            # Bland posts its call webhook to the URL each call names.
            kwargs["webhook_url"] = f"{settings.public_url.rstrip('/')}/webhooks/bland"
        providers[name] = _provider_class(name)(api_key=key, base_url=base_url, **kwargs)
    return ProviderRegistry(providers)


def webhook_secret_for(settings: ProviderSettings, secrets: SecretReader, name: str) -> str | None:
    """The secret a provider's webhooks are verified with (Retell: the API key itself)."""
    if name == "retell":
        endpoint = provider_endpoint(settings, secrets, "retell")
        return endpoint[0] if endpoint else None
    value = secrets.get(WEBHOOK_SECRETS[name])
    if value:
        return value
    if provider_endpoint(settings, secrets, name) and not secrets.get(API_KEY_SECRETS[name]):
        return SANDBOX_WEBHOOK_SECRETS.get(name)
    return None


def _app_settings(app: Flask) -> ProviderSettings:
    settings: ProviderSettings = app.config["LEADCHAIN"].providers
    return settings


def registry(app: Flask) -> ProviderRegistry:
    """The app's providers: the registry handed to create_app(providers=...), else built once from the
    app's settings and secrets."""
    found: ProviderRegistry | None = app.extensions.get(REGISTRY_EXTENSION)
    if found is None:
        found = build_registry(settings=_app_settings(app), secrets=app.extensions["leadchain.secrets"])
        app.extensions[REGISTRY_EXTENSION] = found
    return found


def webhook_secret(app: Flask, name: str) -> str | None:
    """The secret a provider's webhooks are verified with, from the app's settings and secrets."""
    return webhook_secret_for(_app_settings(app), app.extensions["leadchain.secrets"], name)
