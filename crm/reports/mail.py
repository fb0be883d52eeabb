"""The report email: a short note with the headline figures and the PDF attached, to one manager.

The chain's EmailSender (crm/email/port.py) sends templated mail to leads; a report goes to a
user with an attachment. `SendGridReportMailer` therefore uses the email package's SendGridSender one
level lower: `deliver(Outgoing(...), journal_key=...)` (its attachment support, its SendGrid host and
key from crm.email.factory, its send journal on the ledger row that makes a retry after an unknown
outcome not send twice). The report message carries custom_args {"report_id", "message_key"}: no
lead_id (it is nobody's lead); message_key is its ledger key, which routes its SendGrid events to the
report's company (crm.webhooks.sendgrid.company_of_event), where they are stored as ignored (nothing to
apply them to) and settle the send journal as a chain message's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from flask import Flask
from jinja2 import Environment, FileSystemLoader, select_autoescape

from crm.email.factory import build_sender
from crm.email.render import Rendered
from crm.email.sendgrid_sender import Outgoing, OutgoingAttachment, SendGridSender
from crm.reports.i18n import Formatter
from crm.reports.pdf import TEMPLATES

if TYPE_CHECKING:
    from crm.reports.kpis import KpiReport

CATEGORY = "leadchain-report"


@dataclass(frozen=True)
class ReportMail:
    report_id: int
    to_email: str
    to_name: str
    language: str
    subject: str
    html: str
    text: str
    filename: str
    content: bytes
    idempotency_key: str
    content_type: str = "application/pdf"


class ReportMailer(Protocol):
    name: str

    def send(self, mail: ReportMail) -> str:
        """Send; return the provider's message id. Raises on failure (an ApplicationError for SendGrid)."""

    def find_sent(self, idempotency_key: str) -> str | None:
        """The message id of an earlier attempt with this key that may have gone out, else None."""


class SendGridReportMailer:
    name = "sendgrid"

    def __init__(self, *, sender: SendGridSender) -> None:
        self.sender = sender

    def outgoing(self, mail: ReportMail):
        return Outgoing(
            to_email=mail.to_email,
            to_name=mail.to_name,
            rendered=Rendered(mail.subject, mail.html, mail.text),
            categories=[CATEGORY],
            # The ledger key, not a company id: the webhook finds the company from its own ledger row.
            custom_args={"report_id": str(mail.report_id), "message_key": mail.idempotency_key},
            attachments=[OutgoingAttachment(mail.filename, mail.content, mail.content_type)],
        )

    def send(self, mail: ReportMail) -> str:
        return self.sender.deliver(self.outgoing(mail), journal_key=mail.idempotency_key)

    def find_sent(self, idempotency_key: str) -> str | None:
        return self.sender.find_sent(idempotency_key)


def build_mailer(app: Flask) -> ReportMailer | None:
    """The mailer handed to create_app(report_mailer=...), else SendGrid (real with a key, else the provider
    sandbox) as crm.email.factory builds it for the app."""
    found: ReportMailer | None = app.extensions.get("leadchain.report_mailer")
    if found is not None:
        return found
    sender = build_sender(app)
    return SendGridReportMailer(sender=sender) if sender is not None else None


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def compose(
    report: KpiReport,
    *,
    report_id: int,
    language: str,
    to_email: str,
    to_name: str,
    company: str,
    filename: str,
    content: bytes,
    idempotency_key: str,
) -> ReportMail:
    fmt = Formatter(language, report.period.tz)
    title, period_label = fmt.period_title(report.period), fmt.period_label(report.period)
    env = _environment()
    # German nouns keep their capital inside a sentence; English "Daily report" does not.
    in_sentence = title if language == "de" else title.lower()
    context = dict(
        r=report, f=fmt, title=title, in_sentence=in_sentence, period_label=period_label, company=company, name=to_name
    )
    return ReportMail(
        report_id=report_id,
        to_email=to_email,
        to_name=to_name,
        language=language,
        subject=fmt.t("mail_subject", title=title, company=company, period=period_label),
        html=env.get_template("mail.html").render(context),
        text=env.get_template("mail.txt").render(context),
        filename=filename,
        content=content,
        idempotency_key=idempotency_key,
    )
