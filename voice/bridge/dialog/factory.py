"""Which policy the bridge runs: the embedded rules by default, an OpenAI-compatible LLM when
LEADCHAIN_BRIDGE_LLM_URL is set.

* ``LEADCHAIN_BRIDGE_LLM_URL``: the endpoint's base URL (``.../v1``; ``/chat/completions`` is appended);
* ``LEADCHAIN_BRIDGE_LLM_MODEL``: the model name (default ``gpt-4o-mini``);
* ``LEADCHAIN_BRIDGE_LLM_TIMEOUT_S``: seconds without a byte from the endpoint before the rules answer
  (default 2.5); ``LEADCHAIN_BRIDGE_LLM_TURN_TIMEOUT_S``: a whole turn's limit (default 8);
* the API key is the secret ``bridge/llm-api-key`` (crm.secrets: Vault, or the environment variable
  LEADCHAIN_SECRET_BRIDGE_LLM_API_KEY); it is never logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from crm.secrets import secrets_from_env
from voice.bridge.dialog.llm import LLMPolicy
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.timetalk import TimeTalk

if TYPE_CHECKING:  # the secrets store is imported at run time only when an LLM is configured (below)
    from crm.secrets import Secrets

log = logging.getLogger(__name__)

API_KEY_SECRET = "bridge/llm-api-key"
DEFAULT_MODEL = "gpt-4o-mini"


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(environ.get(name, default))
    except (TypeError, ValueError):
        log.warning("%s is not a number; using %s", name, default)
        return default
    return value if value > 0 else default


def policy_from_env(
    environ: Mapping[str, str] | None = None, secrets: Secrets | None = None, timetalk: TimeTalk | None = None
) -> RulesPolicy | LLMPolicy:
    environ = os.environ if environ is None else environ
    rules = RulesPolicy(timetalk)
    url = (environ.get("LEADCHAIN_BRIDGE_LLM_URL") or "").strip()
    if not url:
        return rules
    if not url.startswith(("http://", "https://")):
        log.error("LEADCHAIN_BRIDGE_LLM_URL is not an http(s) URL; the rules policy answers")
        return rules
    if secrets is None:
        secrets = secrets_from_env(environ)
    api_key = secrets.get(API_KEY_SECRET)
    if not api_key:
        log.warning("no secret %s: calling the LLM endpoint without an API key", API_KEY_SECRET)
    policy = LLMPolicy(
        url,
        (environ.get("LEADCHAIN_BRIDGE_LLM_MODEL") or DEFAULT_MODEL).strip(),
        api_key,
        fallback=rules,
        read_timeout_s=_seconds(environ, "LEADCHAIN_BRIDGE_LLM_TIMEOUT_S", 2.5),
        turn_timeout_s=_seconds(environ, "LEADCHAIN_BRIDGE_LLM_TURN_TIMEOUT_S", 8.0),
    )
    log.info("dialog policy: %r", policy)
    return policy
