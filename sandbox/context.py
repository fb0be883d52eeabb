"""What every part of the sandbox shares: its configuration, its memory and its webhook dispatcher.

Kept apart from sandbox.app (which imports every provider module) so the provider modules can name the
type they are handed without importing the app back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.call_scripts import CallScript, ScriptBook
from sandbox.dispatcher import Dispatcher, RetrySchedule
from sandbox.openai_realtime import API_KEY as OPENAI_KEY
from sandbox.openai_realtime import RealtimeServer
from sandbox.state import SandboxState


@dataclass
class SandboxConfig:
    webhook_base: str | None = None  # the CRM, e.g. http://127.0.0.1:5000 (webhooks go to /webhooks/<p>)
    step_s: float = 0.2  # pause between a call's lifecycle events
    keys: dict[str, str] = field(
        default_factory=lambda: {
            "retell": "key_sandbox_retell",  # Retell signs webhooks with the API key
            "vapi": "sandbox-vapi-private-key",
            "vapi_secret": "sandbox-vapi-server-secret",  # X-Vapi-Secret on server messages
            "bland": "sandbox-bland-key",
            "bland_webhook_secret": "sandbox-bland-webhook-secret",
            "sendgrid": "SG.sandbox-key",
            "openai": OPENAI_KEY,  # the Realtime stand-in's API key (Authorization: Bearer)
        }
    )
    # Set: Retell calls talk to this custom LLM server (the voice bridge), e.g.
    # ws://127.0.0.1:8765/llm-websocket/<path secret>; the call id is appended.
    retell_llm_websocket_url: str | None = None
    retell_llm_drop_after: int | None = None  # tests: drop the line once during that turn, then reconnect
    # Set: inbound personas on Vapi talk to this custom LLM (the bridge's .../vapi/llm/chat/completions).
    vapi_llm_url: str | None = None
    # Set: the OpenAI Realtime stand-in (sandbox.openai_realtime) listens on this loopback port (0: a free one)
    # when the app is created; its SDK base is Sandbox.realtime.url (ws://127.0.0.1:<port>/v1).
    realtime_port: int | None = None
    # Webhook retry schedules by kind (sandbox.dispatcher); None: the providers' own (hours for SendGrid).
    webhook_retry: dict[str, RetrySchedule] | None = None

    def webhook_url(self, provider: str) -> str | None:
        return f"{self.webhook_base.rstrip('/')}/webhooks/{provider}" if self.webhook_base else None


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.state = SandboxState()
        self.dispatcher = Dispatcher(config.webhook_retry)
        # The SendGrid mailbox (sandbox.sendgrid.SendGridSandbox), set when its blueprint is built; tests read
        # it. Typed loosely on purpose: naming that class here would import a provider module back.
        self.sendgrid: object | None = None
        self.sendgrid_contacts: object | None = None  # sandbox.sendgrid_contacts.ContactStore
        # The scripts of the Twilio media calls in progress, where the Realtime stand-in finds what its
        # callee says (sandbox.call_scripts); the Twilio stand-in registers them through run_media_call.
        self.call_scripts = ScriptBook()
        self.realtime: RealtimeServer | None = None  # started by sandbox.app when config.realtime_port is set
        # A Twilio call to one of these numbers plays this script (sandbox.call_scripts.SCENARIOS) instead of
        # the number's persona (which still decides whether the call is answered).
        self.twilio_scripts: dict[str, CallScript] = {}
