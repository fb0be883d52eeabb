"""Admin settings stored in the CRM database (AppSetting) that win over the shipped and environment
defaults; no row means the default applies, and "reset to default" deletes the row.

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
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

from crm.extensions import db
from crm.models import AppSetting
from crm.models.types import utcnow
from crm.services import audit
from crm.services.compliance import CallingWindow, GateConfigError, GatePolicy, parse_calling_hours
from crm.services.scoring import ScoringConfigError, ScoringRules, load_rules, rules_from_text

SCORING_RULES, GATE_THRESHOLD, CALLING_HOURS = "scoring.rules", "gate.threshold", "calling_hours"
KEYS = (SCORING_RULES, GATE_THRESHOLD, CALLING_HOURS)
MAX_RULES_CHARS = 64_000


class SettingError(ValueError):
    """A value that cannot be stored: `key` is the setting, `detail` the parser's message (which names
    the offending entry, e.g. "thresholds.warm: must be below thresholds.hot (70)" or "DE: ...")."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"{key}: {detail}")
        self.key, self.detail = key, detail


def stored(key: str) -> AppSetting | None:
    """The stored override of `key`, or None (the default applies)."""
    if key not in KEYS:
        raise KeyError(key)
    return db.session.get(AppSetting, key)


def _put(key: str, value: Any, actor: str) -> AppSetting:
    row = stored(key)
    before = {"key": key, "value": row.value} if row is not None else {"key": key, "default": True}
    if row is None:
        row = AppSetting(key=key, value=value, updated_by=actor, updated_at=utcnow())
        db.session.add(row)
    else:
        row.value, row.updated_by, row.updated_at = value, actor, utcnow()
    audit.record(actor, "setting.update", "app_setting", None, before=before, after={"key": key, "value": value})
    db.session.flush()
    return row


def reset(key: str, actor: str) -> bool:
    """Back to the default: delete the override (audited). False when there was none."""
    row = stored(key)
    if row is None:
        return False
    audit.record(
        actor,
        "setting.reset",
        "app_setting",
        None,
        before={"key": key, "value": row.value},
        after={"key": key, "default": True},
    )
    db.session.delete(row)
    db.session.flush()
    return True


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


_rules_lock = threading.Lock()
_rules_cache: tuple[datetime, str, ScoringRules] | None = None


def set_scoring_rules(text: str, actor: str) -> ScoringRules:
    global _rules_cache
    rules = validate_scoring_rules(text)
    row = _put(SCORING_RULES, text, actor)
    with _rules_lock:
        _rules_cache = (row.updated_at, text, rules)
    return rules


def scoring_rules() -> ScoringRules:
    """The ruleset in force: the stored one (parsed once per change: cached by updated_at), else the file."""
    global _rules_cache
    row = stored(SCORING_RULES)
    if row is None:
        return load_rules()
    cached = _rules_cache
    if cached is not None and cached[0] == row.updated_at and cached[1] == row.value:
        return cached[2]
    rules = rules_from_text(row.value)
    with _rules_lock:
        _rules_cache = (row.updated_at, row.value, rules)
    return rules


def rules_in_force() -> ScoringRules:
    """scoring_rules() with the stored gate threshold, so a score's recommended action ("call") agrees
    with the gate the chain applies."""
    rules = scoring_rules()
    threshold = gate_threshold()
    if threshold is None or threshold == rules.gate_threshold:
        return rules
    from dataclasses import replace

    return replace(rules, gate_threshold=threshold)


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


def gate_threshold(default: int | None = None) -> int | None:
    """The stored threshold, else `default` (the chain's own ChainSettings.gate_threshold)."""
    row = stored(GATE_THRESHOLD)
    return int(row.value) if row is not None else default


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


def calling_hours() -> dict[str, Any] | None:
    row = stored(CALLING_HOURS)
    return row.value if row is not None else None


def gate_policy(base: GatePolicy | None = None) -> GatePolicy:
    """The gate policy in force: `base` (the app's configured one) or the environment's, with the stored
    calling hours in place of LEADCHAIN_CALLING_HOURS."""
    policy = base or GatePolicy.from_env()
    hours = calling_hours()
    return policy if hours is None else policy.with_calling_hours(hours)
