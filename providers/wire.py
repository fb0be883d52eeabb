"""Wire-level failures every provider's webhook parser raises, shared by the vendors and the CRM.

They live here, below the CRM, so a provider module never imports the web layer: the CRM's webhook
receiver (crm/webhooks/provider_common.py) catches them and answers 401 / 400.
"""

from __future__ import annotations


class InvalidSignature(Exception):
    """Wrong, missing or stale signature: answer 401 and store nothing."""


class MalformedPayload(ValueError):
    """Signed but unreadable: answer 400 (the provider's retry will not fix it, but nothing is stored)."""
