"""What the provider registry is built from: where each provider is reached (ProviderSettings, part of
crm.config.Settings) and the names of the provider secrets (crm.secret_names re-exports them): the
installation's and each company's own (companies/<id>/providers/<name>/...).

Here rather than in crm/ because providers/ sits below crm/ in the layers and imports nothing of it."""

from __future__ import annotations

from dataclasses import dataclass

PROVIDER_NAMES = ("retell", "vapi", "bland", "twilio_realtime")
REAL_BASE_URLS = {
    "retell": "https://api.retellai.com",
    "vapi": "https://api.vapi.ai",
    "bland": "https://api.bland.ai",
    "twilio_realtime": "https://api.twilio.com",
}

RETELL_API_KEY = "providers/retell-api-key"  # also the key Retell signs its webhooks with
VAPI_API_KEY = "providers/vapi-api-key"
VAPI_WEBHOOK_SECRET = "providers/vapi-webhook-secret"
BLAND_API_KEY = "providers/bland-api-key"
BLAND_WEBHOOK_SECRET = "providers/bland-webhook-secret"
# `<AccountSid>:<AuthToken>`; the auth token also signs Twilio's webhooks (docs/audio-agent.md).
TWILIO_API_KEY = "providers/twilio_realtime-api-key"
API_KEY_SECRETS = {
    "retell": RETELL_API_KEY,
    "vapi": VAPI_API_KEY,
    "bland": BLAND_API_KEY,
    "twilio_realtime": TWILIO_API_KEY,
}
WEBHOOK_SECRETS = {"vapi": VAPI_WEBHOOK_SECRET, "bland": BLAND_WEBHOOK_SECRET}
# Providers whose webhooks are signed with (part of) the API key itself, not a secret of their own.
KEY_SIGNED = ("retell", "twilio_realtime")
# The company whose provider accounts were the installation's before companies existed: it keeps the keys
# above as its fallback. Every other company has only its own (company_api_key), never another's.
INSTALLATION_COMPANY = 1


def company_api_key(company_id: int, name: str) -> str:
    """The secret holding company `company_id`'s API key for provider `name` (docs/tenancy.md rule 5)."""
    return f"companies/{company_id}/providers/{name}/api-key"


def company_webhook_secret(company_id: int, name: str) -> str:
    """The secret company `company_id`'s account of provider `name` signs its webhooks with (Retell: the
    API key itself)."""
    return (
        company_api_key(company_id, name)
        if name in KEY_SIGNED
        else f"companies/{company_id}/providers/{name}/webhook-secret"
    )


@dataclass(frozen=True)
class ProviderSettings:
    """Where the voice providers and the provider sandbox are reached (the keys are secrets, not here)."""

    sandbox_url: str | None = None  # providers without a key talk to the sandbox here
    public_url: str | None = None  # the CRM's public address (Bland's per-call webhook URL)
    retell_base_url: str | None = None
    vapi_base_url: str | None = None
    bland_base_url: str | None = None
    twilio_base_url: str | None = None
    # Where Twilio streams a twilio_realtime call's audio: the bridge's Media Streams WebSocket, a full
    # `wss://` URL without a query string (Twilio refuses one), path secret included.
    twilio_stream_url: str | None = None
    twilio_from_number: str | None = None  # the caller id when the campaign names none

    def base_url(self, name: str) -> str | None:
        """The configured base URL of provider `name` (None: the real service, or the sandbox)."""
        return {
            "retell": self.retell_base_url,
            "vapi": self.vapi_base_url,
            "bland": self.bland_base_url,
            "twilio_realtime": self.twilio_base_url,
        }[name]

    def sandbox(self) -> str | None:
        return self.sandbox_url.rstrip("/") if self.sandbox_url else None
