"""Which policy the bridge runs: the embedded rules by default, an OpenAI-compatible LLM when
LEADCHAIN_BRIDGE_LLM_URL is set (crm.config.Settings.bridge).

* ``LEADCHAIN_BRIDGE_LLM_URL``: the endpoint's base URL (``.../v1``; ``/chat/completions`` is appended);
* ``LEADCHAIN_BRIDGE_LLM_MODEL``: the model name (default ``gpt-4o-mini``);
* ``LEADCHAIN_BRIDGE_LLM_TIMEOUT_S``: seconds without a byte from the endpoint before the rules answer
  (default 2.5); ``LEADCHAIN_BRIDGE_LLM_TURN_TIMEOUT_S``: a whole turn's limit (default 8);
* the API key is the secret ``bridge/llm-api-key`` (crm.secret_names.BRIDGE_LLM_API_KEY), handed to
  `build_policy` as a value; it is never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from crm.config import BridgeSettings, Settings
from crm.secret_names import BRIDGE_LLM_API_KEY
from crm.secrets import Secrets, secrets_from_env
from voice.bridge.dialog.inbound import DirectionPolicy, InboundPolicy
from voice.bridge.dialog.llm import LLMPolicy
from voice.bridge.dialog.llm_inbound import InboundLLMPolicy
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.timetalk import TimeTalk
from voice.bridge.dialog.types import DialogPolicy

log = logging.getLogger(__name__)

API_KEY_SECRET = BRIDGE_LLM_API_KEY
DEFAULT_MODEL = BridgeSettings().llm_model


def build_policy(
    *, settings: BridgeSettings, api_key: str | None, timetalk: TimeTalk | None = None
) -> RulesPolicy | LLMPolicy:
    """The rules, or the LLM at settings.llm_url (with the rules as its fallback) called with `api_key`."""
    rules = RulesPolicy(timetalk)
    url = settings.llm_url
    if not url:
        return rules
    if not url.startswith(("http://", "https://")):
        log.error("LEADCHAIN_BRIDGE_LLM_URL is not an http(s) URL; the rules policy answers")
        return rules
    if not api_key:
        log.warning("no secret %s: calling the LLM endpoint without an API key", API_KEY_SECRET)
    policy = LLMPolicy(
        url,
        settings.llm_model,
        api_key,
        fallback=rules,
        read_timeout_s=settings.llm_timeout_s,
        turn_timeout_s=settings.llm_turn_timeout_s,
    )
    log.info("dialog policy: %r", policy)
    return policy


def with_inbound(policy: DialogPolicy) -> DialogPolicy:
    """`policy` for outbound calls; for calls to the company's numbers the inbound rules
    (voice.bridge.dialog.inbound), or with an LLM configured the inbound LLM policy
    (voice.bridge.dialog.llm_inbound) over those rules."""
    if isinstance(policy, DirectionPolicy):
        return policy
    if isinstance(policy, LLMPolicy):
        # The same endpoint and limits, told it answers the company's phone; the inbound rules behind it.
        inbound_rules = InboundPolicy(policy.fallback if isinstance(policy.fallback, RulesPolicy) else None)
        return DirectionPolicy(policy, policy.inbound_variant(InboundLLMPolicy, inbound_rules))
    rules = policy if isinstance(policy, RulesPolicy) else RulesPolicy()
    return DirectionPolicy(policy, InboundPolicy(rules))


def policy_from_env(
    environ: Mapping[str, str], secrets: Secrets | None = None, timetalk: TimeTalk | None = None
) -> RulesPolicy | LLMPolicy:
    """build_policy for the variables in `environ` (Settings.from_env) and the key in `secrets` (else the
    secrets `environ` names): for tests and benchmarks that describe a bridge by its environment."""
    settings = Settings.from_env(environ).bridge
    api_key = None
    if settings.llm_url:
        api_key = (secrets if secrets is not None else secrets_from_env(environ)).get(API_KEY_SECRET)
    return build_policy(settings=settings, api_key=api_key, timetalk=timetalk)
