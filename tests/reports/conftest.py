"""Report tests: the reference dataset (seed.py) and a recording mailer."""

from __future__ import annotations

import itertools
import threading

import crm.models.reports  # noqa: F401  (the report tables are wiped with the others)
from crm.reports.mail import ReportMail


class RecordingMailer:
    """Stands in for SendGrid: records every report email; find_sent knows what it recorded."""

    name = "fake-report-mail"

    def __init__(self, lose_answer_once: bool = False) -> None:
        self.sent: list[ReportMail] = []
        self.lose_answer_once = lose_answer_once
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._by_key: dict[str, str] = {}

    def send(self, mail: ReportMail) -> str:
        from temporalio.exceptions import ApplicationError

        with self._lock:
            self.sent.append(mail)
            message_id = f"report-msg-{next(self._ids)}"
            self._by_key[mail.idempotency_key] = message_id
            if self.lose_answer_once:
                self.lose_answer_once = False
                raise ApplicationError("answer lost after the request went out", type="ProviderUnavailable")
            return message_id

    def find_sent(self, idempotency_key: str) -> str | None:
        return self._by_key.get(idempotency_key)
