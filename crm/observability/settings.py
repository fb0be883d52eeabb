"""Observability settings: part of crm.config.Settings (Settings.observability, read by Settings.from_env
like every other setting, docs/observability.md §1) and handed to install_web / install_worker.

Re-exported here under their old names so that this package's modules and the tests keep one import.
"""

from __future__ import annotations

from crm.config import DEFAULT_STUCK_AFTER_S, ObservabilitySettings, SettingsError

# The former error type: an invalid observability variable is a SettingsError naming it.
ObservabilitySettingsError = SettingsError

__all__ = ["DEFAULT_STUCK_AFTER_S", "ObservabilitySettings", "ObservabilitySettingsError"]
