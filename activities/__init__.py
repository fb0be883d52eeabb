"""Temporal activities: CRM steps (chain queue) and provider steps (provider queue)."""
