"""Settings (admins only): the company's profile and branding, users and roles, scoring rules and the gate
threshold, calling hours, campaigns, provider keys.

Scoring rules (YAML), the gate threshold and calling hours are editable: they are stored in the CRM
database (crm.services.app_settings) over the defaults from the rules file (LEADCHAIN_SCORING_RULES),
the chain's ChainSettings and the environment (LEADCHAIN_CALLING_HOURS). The chain's activities read the
database when they run, so an edit reaches every chain at its next score or gate check. Each form
validates through the parser its default goes through; a bad value is refused with 422 naming the entry
and nothing is stored. "Reset to default" deletes the override. Every change is audited. The other
gate limits (attempts per day, holidays, express consent) stay environment settings, shown read-only.
Provider keys live in Vault (or the environment): the page says only whether each is set, never its value.

One module per area (company, users, scoring, calling_hours, campaigns, knowledge); all register on one blueprint
(crm.ui.settings.blueprint), so the endpoints keep their names ("settings.scoring", ...)."""

# Importing the areas registers their routes on the blueprint: the names themselves are not used here.
from crm.ui.settings import (  # noqa: F401
    api_keys,
    calling_hours,
    campaigns,
    company,
    knowledge,
    learned_score,
    scoring,
    security,
    users,
)
from crm.ui.settings.blueprint import bp

__all__ = ["bp"]
