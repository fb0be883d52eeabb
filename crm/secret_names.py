"""The name of every secret (crm.secrets "group/key"), in one place: code looks secrets up by these
constants, never by a string written at the call site. README's secrets table describes each one.

The voice providers' secrets are named in providers.settings (providers/ sits below crm/ in the layers and
cannot import this module); they are re-exported here so this module stays the one index."""

from __future__ import annotations

from providers.settings import API_KEY_SECRETS as PROVIDER_API_KEYS  # noqa: F401  (re-exported)
from providers.settings import BLAND_API_KEY as BLAND_API_KEY
from providers.settings import BLAND_WEBHOOK_SECRET as BLAND_WEBHOOK_SECRET
from providers.settings import RETELL_API_KEY as RETELL_API_KEY
from providers.settings import TWILIO_API_KEY as TWILIO_API_KEY
from providers.settings import VAPI_API_KEY as VAPI_API_KEY
from providers.settings import VAPI_WEBHOOK_SECRET as VAPI_WEBHOOK_SECRET
from providers.settings import WEBHOOK_SECRETS as PROVIDER_WEBHOOK_SECRETS  # noqa: F401  (re-exported)

APP_SECRET_KEY = "app/secret-key"  # Flask's session key (and the unsubscribe token key)
APP_CHAIN_KEY = "app/chain-key"  # the hash key that makes chain ids from dedupe keys
API_KEYS = "api/keys"  # API clients, "client:key" entries

SENDGRID_API_KEY = "providers/sendgrid-api-key"
SENDGRID_WEBHOOK_PUBLIC_KEY = "providers/sendgrid-webhook-public-key"
SENDGRID_INBOUND_PUBLIC_KEY = "providers/sendgrid-inbound-public-key"
STRIPE_API_KEY = "providers/stripe-api-key"
STRIPE_WEBHOOK_SECRET = "providers/stripe-webhook-secret"  # whsec_..., the Stripe-Signature key

BRIDGE_RETELL_PATH_SECRET = "bridge/retell-path-secret"  # two values during a rotation
BRIDGE_VAPI_SECRET = "bridge/vapi-secret"
BRIDGE_LLM_API_KEY = "bridge/llm-api-key"
# Issue 22 (docs/audio-agent.md): the path secret of the bridge's /twilio/media/{secret} route (two values
# during a rotation) and the OpenAI Realtime API key the bridge opens model sessions with.
BRIDGE_TWILIO_MEDIA_PATH_SECRET = "bridge/twilio-media-path-secret"
BRIDGE_REALTIME_API_KEY = "bridge/realtime-api-key"


def lead_webhook(source: str) -> str:
    """The Standard Webhooks secrets of lead source `source` (space-separated during a rotation)."""
    return f"webhooks/leads-{source}"
