"""The email sender interface the chain's follow-up and nurture steps talk to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class EmailMessage:
    lead_id: int
    to: str
    language: str
    template: str
    step: int
    idempotency_key: str
    # The ledger row's attempt count this send belongs to: the send goes out only while the row still
    # says so, so an attempt that outlived its window sends nothing once a newer one has started
    # (crm/email/sendgrid_sender.py, "At most once"). 0: not fenced (a send with no ledger attempt).
    attempt: int = 0


class EmailSender(Protocol):
    name: str

    def send(self, message: EmailMessage) -> str:
        """Send and return the provider's message id. Raises on failure."""

    def find_sent(self, idempotency_key: str) -> str | None:
        """The message id of an earlier send with this key, if the provider knows one."""
