"""What the provider registry is built from: where each provider is reached (ProviderSettings, part of
crm.config.Settings) and the names of the provider secrets (crm.secret_names re-exports them).

Here rather than in crm/ because providers/ sits below crm/ in the layers and imports nothing of it."""

from __future__ import annotations

from dataclasses import dataclass

PROVIDER_NAMES = ("retell", "vapi", "bland")
REAL_BASE_URLS = {"retell": "https://api.retellai.com", "vapi": "https://api.vapi.ai", "bland": "https://api.bland.ai"}

RETELL_API_KEY = "providers/retell-api-key"  # also the key Retell signs its webhooks with
VAPI_API_KEY = "providers/vapi-api-key"
VAPI_WEBHOOK_SECRET = "providers/vapi-webhook-secret"
BLAND_API_KEY = "providers/bland-api-key"
BLAND_WEBHOOK_SECRET = "providers/bland-webhook-secret"
API_KEY_SECRETS = {"retell": RETELL_API_KEY, "vapi": VAPI_API_KEY, "bland": BLAND_API_KEY}
WEBHOOK_SECRETS = {"vapi": VAPI_WEBHOOK_SECRET, "bland": BLAND_WEBHOOK_SECRET}


@dataclass(frozen=True)
class ProviderSettings:
    """Where the voice providers and the provider sandbox are reached (the keys are secrets, not here)."""

    sandbox_url: str | None = None  # providers without a key talk to the sandbox here
    public_url: str | None = None  # the CRM's public address (Bland's per-call webhook URL)
    retell_base_url: str | None = None
    vapi_base_url: str | None = None
    bland_base_url: str | None = None

    def base_url(self, name: str) -> str | None:
        """The configured base URL of provider `name` (None: the real service, or the sandbox)."""
        return {"retell": self.retell_base_url, "vapi": self.vapi_base_url, "bland": self.bland_base_url}[name]

    def sandbox(self) -> str | None:
        return self.sandbox_url.rstrip("/") if self.sandbox_url else None
