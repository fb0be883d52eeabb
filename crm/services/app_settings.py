"""Admin settings stored in the CRM database (AppSetting) that win over the shipped and environment
defaults, each company's own (one row per company and key: crm.services.settings_store reads and writes
the current company's); no row means the default applies, and "reset to default" deletes the row.

- `scoring.rules`: the YAML text of a ruleset (crm/scoring_rules.yaml's format);
  default: the rules file (LEADCHAIN_SCORING_RULES or the shipped one).
- `gate.threshold`: an int 0..100, a lead is called only with a score above it;
  default: the chain's ChainSettings.gate_threshold.
- `calling_hours`: LEADCHAIN_CALLING_HOURS's JSON shape (by region; "default");
  default: LEADCHAIN_CALLING_HOURS / the DE and US windows.

Each value is validated by the parser the default goes through (scoring.rules_from_text,
compliance.parse_calling_hours), so a stored value is never read differently from a file or the
environment. The chain's activities read these at activity time (in the chain worker's app context), so
an edit reaches every chain at its next score or gate check. Every change is audited (action
`setting.update` / `setting.reset`, entity type `app_setting`, before/after carry key and value).
Setters and reset run in the caller's transaction and do not commit.

Reading a stored value is crm.services.settings_store's job (below scoring and compliance, which read
their override there); this module validates and stores, with the parsers of those two.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time
from typing import Any

from crm.services.compliance import CallingWindow, GateConfigError, gate_policy, parse_calling_hours
from crm.services.scoring import (
    ScoringConfigError,
    ScoringRules,
    remember_stored_rules,
    rules_from_text,
    rules_in_force,
)
from crm.services.scoring import stored_rules as scoring_rules
from crm.services.settings_store import (
    CALLING_HOURS,
    GATE_THRESHOLD,
    KEYS,
    SCORING_RULES,
    calling_hours,
    gate_threshold,
    reset,
    stored,
)
from crm.services.settings_store import put as _put

# What callers use from here: the reads live in settings_store, scoring and compliance.
__all__ = [
    "CALLING_HOURS",
    "GATE_THRESHOLD",
    "KEYS",
    "MAX_RULES_CHARS",
    "SCORING_RULES",
    "SettingError",
    "calling_hours",
    "gate_policy",
    "gate_threshold",
    "reset",
    "rules_in_force",
    "scoring_rules",
    "set_calling_hours",
    "set_gate_threshold",
    "set_scoring_rules",
    "stored",
    "validate_calling_hours",
    "validate_gate_threshold",
    "validate_scoring_rules",
    "window_json",
]

MAX_RULES_CHARS = 64_000


class SettingError(ValueError):
    """A value that cannot be stored: `key` is the setting, `detail` the parser's message (which names
    the offending entry, e.g. "thresholds.warm: must be below thresholds.hot (70)" or "DE: ...")."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"{key}: {detail}")
        self.key, self.detail = key, detail


# ---------------------------------------------------------------- scoring rules


def validate_scoring_rules(text: Any) -> ScoringRules:
    if not isinstance(text, str) or not text.strip():
        raise SettingError(SCORING_RULES, "the rules are empty")
    if len(text) > MAX_RULES_CHARS:
        raise SettingError(SCORING_RULES, f"at most {MAX_RULES_CHARS} characters")
    try:
        return rules_from_text(text)
    except ScoringConfigError as e:
        raise SettingError(SCORING_RULES, str(e)) from None
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError, OverflowError) as e:
        # YAML the loader cannot even build (2026-02-30 is read as a date), or shapes no rule expects.
        raise SettingError(SCORING_RULES, f"the rules cannot be read: {str(e)[:200] or type(e).__name__}") from None


def set_scoring_rules(text: str, actor: str) -> ScoringRules:
    rules = validate_scoring_rules(text)
    row = _put(SCORING_RULES, text, actor)
    remember_stored_rules(row.updated_at, text, rules)
    return rules


# ---------------------------------------------------------------- gate threshold


def validate_gate_threshold(value: Any) -> int:
    # ASCII digits only: "²".isdigit() is true, but int("²") raises.
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,6}", value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingError(GATE_THRESHOLD, "must be a whole number from 0 to 100")
    if not 0 <= value <= 100:
        raise SettingError(GATE_THRESHOLD, f"must be between 0 and 100, got {value}")
    return value


def set_gate_threshold(value: Any, actor: str) -> int:
    threshold = validate_gate_threshold(value)
    _put(GATE_THRESHOLD, threshold, actor)
    return threshold


# ---------------------------------------------------------------- calling hours


def _hhmm(t: time) -> str:
    return t.strftime("%H:%M") if not (t.second or t.microsecond) else t.isoformat()


def window_json(window: CallingWindow) -> dict[str, Any]:
    return {"days": list(window.days), "start": _hhmm(window.start), "end": _hhmm(window.end)}


def validate_calling_hours(value: str | Mapping) -> dict[str, dict[str, Any]]:
    """Parse with the LEADCHAIN_CALLING_HOURS parser; the canonical JSON of what it read."""
    try:
        windows = parse_calling_hours(value)
    except GateConfigError as e:
        raise SettingError(CALLING_HOURS, str(e)) from None
    return {region: window_json(window) for region, window in windows.items()}


def set_calling_hours(value: str | Mapping, actor: str) -> dict[str, dict[str, Any]]:
    hours = validate_calling_hours(value)
    _put(CALLING_HOURS, hours, actor)
    return hours
