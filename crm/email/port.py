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


class EmailSender(Protocol):
    name: str

    def send(self, message: EmailMessage) -> str:
        """Send and return the provider's message id. Raises on failure."""

    def find_sent(self, idempotency_key: str) -> str | None:
        """The message id of an earlier send with this key, if the provider knows one."""
