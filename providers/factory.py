"""Build the voice providers from the settings and secret values handed in: real services when a key is
set, else the sandbox. `build_registry` needs no Flask; `registry(app)` and `webhook_secret(app, name)` are
thin wrappers over the app's settings (app.config["LEADCHAIN"].providers) and secrets store.

Each company calls through its own provider accounts: its keys are the secrets
companies/<id>/providers/<name>/api-key. Company 1 (INSTALLATION_COMPANY, the one that existed before
companies) falls back to the installation's keys; any other company without a key of its own gets the
sandbox when there is one (local stack, tests) and otherwise no such provider: never another company's
account. `registry(app)` answers for the company of the caller's unit of work, which crm hands in as a
function (app.extensions[COMPANY_OF_EXTENSION]; providers/ imports nothing of crm); with none, or outside
any company, the installation's keys as before companies."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from flask import Flask

from providers.base import ProviderRegistry, VoiceProvider
from providers.bland import BlandProvider
from providers.settings import (
    API_KEY_SECRETS,
    INSTALLATION_COMPANY,
    PROVIDER_NAMES,
    REAL_BASE_URLS,
    WEBHOOK_SECRETS,
    ProviderSettings,
    company_api_key,
    company_webhook_secret,
)
from providers.vapi import VapiProvider

log = logging.getLogger(__name__)
# Twilio's key is `<AccountSid>:<AuthToken>` (providers.twilio_realtime.split_key).
SANDBOX_TWILIO_ACCOUNT = "AC" + "5a" * 16
SANDBOX_KEYS = {
    "retell": "key_sandbox_retell",
    "vapi": "sandbox-vapi-private-key",
    "bland": "sandbox-bland-key",
    "twilio_realtime": f"{SANDBOX_TWILIO_ACCOUNT}:sandbox-twilio-auth-token",
}
SANDBOX_WEBHOOK_SECRETS = {"vapi": "sandbox-vapi-server-secret", "bland": "sandbox-bland-webhook-secret"}
REGISTRY_EXTENSION = "leadchain.providers"
# A function () -> the current company's id or None, registered by crm (crm.tenancy.context.current_company_id).
COMPANY_OF_EXTENSION = "leadchain.company_of"
# A function (call key) -> the Twilio CallSid our key made, or None, registered by crm
# (crm.services.twilio_calls.call_for_key): Twilio has no idempotency key (providers/twilio_realtime.py).
TWILIO_CALLS_EXTENSION = "leadchain.twilio_calls"


class SecretReader(Protocol):
    """What the factory needs of crm.secrets.Secrets (providers/ does not import crm)."""

    def get(self, name: str) -> str | None: ...


def provider_endpoint(
    settings: ProviderSettings, secrets: SecretReader, name: str, company_id: int | None = None
) -> tuple[str, str] | None:
    """(api_key, base_url) for a provider (of company `company_id`; None: the installation's), or None when
    it is not available at all."""
    base = settings.base_url(name)
    key = secrets.get(company_api_key(company_id, name)) if company_id is not None else None
    if key is None and company_id in (None, INSTALLATION_COMPANY):
        key = secrets.get(API_KEY_SECRETS[name])
    if key:
        return key, base or REAL_BASE_URLS[name]
    sandbox = settings.sandbox()
    if sandbox:
        # No key: the keyless local stack and the tests talk to the provider sandbox.
        return SANDBOX_KEYS[name], base or f"{sandbox}/{name}"
    return None


def import_all_sdks() -> None:
    """Import every provider module now, the SDKs the registry otherwise imports at a provider's first build
    (Retell's took 2.8-4 s here). For a server process before it takes requests: an inbound call's webhook
    answers while the caller's phone rings (Bland waits 5 s), and the first call of a fresh worker must not
    pay the import. Command-line tools and workers that never build these providers do not call it."""
    for name in PROVIDER_NAMES:
        _provider_class(name)
    # VapiProvider imports its SDK when it builds its client (providers/vapi.py): about a second more.
    import vapi  # noqa: F401, PLC0415


def _provider_class(name: str) -> type:
    if name == "retell":
        # Imported when a Retell provider is built, not at start-up: the Retell SDK takes seconds to import
        # (its generated pydantic types), and most processes never build one. A missing module is still an
        # ImportError here, never a provider silently left out.
        from providers.retell import RetellProvider

        return RetellProvider
    if name == "twilio_realtime":
        from providers.twilio_realtime import TwilioRealtimeProvider

        return TwilioRealtimeProvider
    return {"vapi": VapiProvider, "bland": BlandProvider}[name]


def _twilio_kwargs(settings: ProviderSettings, call_lookup: Callable[[str], str | None] | None) -> dict[str, Any]:
    public = settings.public_url.rstrip("/") if settings.public_url else None
    return {
        "status_callback_url": f"{public}/webhooks/twilio/status" if public else None,
        "stream_url": settings.twilio_stream_url,
        "from_number": settings.twilio_from_number,
        "call_lookup": call_lookup,
    }


class LazyRegistry(ProviderRegistry):
    """Providers that are each built at their first `get`: building Retell's imports its SDK (seconds on a
    fresh process), which a request for Bland or Vapi must not wait for (a Bland tool request waits 5 s)."""

    def __init__(self, makers: dict[str, Callable[[], VoiceProvider]]) -> None:
        super().__init__({})
        self._makers = makers
        self.default = next(iter(makers), None)
        self._lock = threading.Lock()

    def get(self, name: str) -> VoiceProvider | None:
        with self._lock:
            found = self.providers.get(name)
            if found is None and name in self._makers:
                found = self.providers[name] = self._makers[name]()
            return found

    def for_lead(self, lead_id: int) -> VoiceProvider | None:
        return self.get(self.default) if self.default else None


def build_registry(
    *,
    settings: ProviderSettings,
    secrets: SecretReader,
    company_id: int | None = None,
    call_lookup: Callable[[str], str | None] | None = None,
) -> ProviderRegistry:
    """Every provider that has a key (or the sandbox), each given its key and base URL by keyword: company
    `company_id`'s accounts (None: the installation's). `call_lookup`: TWILIO_CALLS_EXTENSION's function.
    Which providers there are is decided here; each is built when first asked for (LazyRegistry)."""
    makers: dict[str, Callable[[], VoiceProvider]] = {}
    for name in PROVIDER_NAMES:
        endpoint = provider_endpoint(settings, secrets, name, company_id)
        if endpoint is None:
            continue
        key, base_url = endpoint
        kwargs: dict[str, Any] = {}
        if name == "bland" and settings.public_url:
            # Bland posts its call webhook to the URL each call names.
            kwargs["webhook_url"] = f"{settings.public_url.rstrip('/')}/webhooks/bland"
        if name == "twilio_realtime":
            kwargs.update(_twilio_kwargs(settings, call_lookup))

        def make(name: str = name, key: str = key, base_url: str = base_url, kwargs: dict[str, Any] = kwargs) -> Any:
            return _provider_class(name)(api_key=key, base_url=base_url, **kwargs)

        makers[name] = make
    return LazyRegistry(makers)


def webhook_secret_for(
    settings: ProviderSettings, secrets: SecretReader, name: str, company_id: int | None = None
) -> str | None:
    """The secret a provider's webhooks are verified with (Retell: the API key itself): company
    `company_id`'s account's (None: the installation's)."""
    if name == "retell":
        endpoint = provider_endpoint(settings, secrets, "retell", company_id)
        return endpoint[0] if endpoint else None
    if name == "twilio_realtime":
        # Twilio signs with the account's auth token: the part of the key after the AccountSid.
        endpoint = provider_endpoint(settings, secrets, name, company_id)
        return endpoint[0].partition(":")[2] or None if endpoint else None
    value = secrets.get(company_webhook_secret(company_id, name)) if company_id is not None else None
    if value is None and company_id in (None, INSTALLATION_COMPANY):
        value = secrets.get(WEBHOOK_SECRETS[name])
    if value:
        return value
    endpoint = provider_endpoint(settings, secrets, name, company_id)
    if endpoint is not None and endpoint[0] == SANDBOX_KEYS[name]:
        return SANDBOX_WEBHOOK_SECRETS.get(name)
    return None


class CompanyRegistries(ProviderRegistry):
    """The registry of whichever company the caller works for (`company_of()`), each company's built once
    from its own keys. A registry like any other to its callers (`get`, `for_lead`), so the chain's
    activities need not know about companies; `for_company` names one explicitly."""

    def __init__(
        self,
        *,
        settings: ProviderSettings,
        secrets: SecretReader,
        company_of: Callable[[], int | None],
        call_lookup: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__({})
        self._settings, self._secrets, self._company_of = settings, secrets, company_of
        self._call_lookup = call_lookup
        self._built: dict[int | None, ProviderRegistry] = {}
        self._lock = threading.Lock()

    def for_company(self, company_id: int | None) -> ProviderRegistry:
        with self._lock:
            found = self._built.get(company_id)
            if found is None:
                found = build_registry(
                    settings=self._settings,
                    secrets=self._secrets,
                    company_id=company_id,
                    call_lookup=self._call_lookup,
                )
                self._built[company_id] = found
            return found

    def current(self) -> ProviderRegistry:
        return self.for_company(self._company_of())

    def get(self, name: str) -> VoiceProvider | None:
        return self.current().get(name)

    def for_lead(self, lead_id: int) -> VoiceProvider | None:
        return self.current().for_lead(lead_id)


def _app_settings(app: Flask) -> ProviderSettings:
    settings: ProviderSettings = app.config["LEADCHAIN"].providers
    return settings


def _company_of(app: Flask) -> Callable[[], int | None]:
    def company_of() -> int | None:
        found: Callable[[], int | None] | None = app.extensions.get(COMPANY_OF_EXTENSION)
        return found() if found is not None else None

    return company_of


def registry(app: Flask) -> ProviderRegistry:
    """The app's providers: the registry handed to create_app(providers=...) (the same for every company:
    tests), else the current company's (CompanyRegistries), built from the app's settings and secrets."""
    found: ProviderRegistry | None = app.extensions.get(REGISTRY_EXTENSION)
    if found is None:
        found = CompanyRegistries(
            settings=_app_settings(app),
            secrets=app.extensions["leadchain.secrets"],
            company_of=_company_of(app),
            call_lookup=app.extensions.get(TWILIO_CALLS_EXTENSION),
        )
        app.extensions[REGISTRY_EXTENSION] = found
    return found


def webhook_secret(app: Flask, name: str, company_id: int | None = None) -> str | None:
    """The secret a provider's webhooks are verified with, from the app's settings and secrets: company
    `company_id`'s account's (None: the installation's)."""
    return webhook_secret_for(_app_settings(app), app.extensions["leadchain.secrets"], name, company_id)
