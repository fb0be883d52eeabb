"""A worker that dies after SendGrid accepted a message, then retries: exactly one message.

ProviderActivities.send_email runs in temporalio's ActivityEnvironment, twice with the same key, the
first attempt killed at the worst moments (Temporal retries exactly like this after a worker death)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from temporalio.exceptions import ApplicationError

import crm.email.sendgrid_sender as sender_mod
from activities.provider_activities import ProviderActivities
from crm.extensions import db
from crm.models import Interaction, SideEffect
from providers.base import ProviderRegistry
from sandbox.state import Fault, WebhookMode
from tests.conftest import set_settings
from tests.email.conftest import email_interactions, make_lead, send, settle


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs in the attempt."""


class DiesAfterSend:
    """The sender as seen by the first attempt: SendGrid accepts, then the worker dies."""

    def __init__(self, inner) -> None:
        self.inner, self.name = inner, inner.name

    def send(self, message):
        self.inner.send(message)
        raise WorkerKilled()

    def find_sent(self, key):
        return self.inner.find_sent(key)


class ParkedUntilTheRetryRan:
    """The sender as a CPU-starved first attempt sees it: counted on the ledger, then parked before its
    request for longer than its window, while Temporal's retry runs whole; then it goes on."""

    def __init__(self, inner, retry) -> None:
        self.inner, self.name, self.retry = inner, inner.name, retry

    def send(self, message):
        self.retry()
        return self.inner.send(message)

    def find_sent(self, key):
        return self.inner.find_sent(key)


class CommitFails(ProviderActivities):
    """The first attempt's interaction commit fails after the send (database gone at that moment)."""

    def _sent(self, row, inp, message_id):
        raise sa.exc.OperationalError("COMMIT", {}, Exception("connection lost"))


def _ledger(app, key):
    with app.app_context():
        row = db.session.scalar(sa.select(SideEffect).where(SideEffect.key == key))
        db.session.expunge(row)
        return row


@pytest.mark.parametrize("crash", ["killed_after_accept", "commit_fails_after_send"])
def test_crash_after_sendgrid_accepted_then_retry_sends_exactly_once(mail, crash):
    lead_id = make_lead(mail.app, "delivers.crash@example.org")
    key = f"chain-x:email:follow_up:0:0:{lead_id}"
    first = (
        ProviderActivities(mail.app, ProviderRegistry({}), DiesAfterSend(mail.sender))
        if crash == "killed_after_accept"
        else CommitFails(mail.app, ProviderRegistry({}), mail.sender)
    )
    with pytest.raises((WorkerKilled, sa.exc.OperationalError)):
        send(first, lead_id, "follow_up", key=key)
    [accepted] = mail.box.messages(message_key=key)
    ledger = _ledger(mail.app, key)
    assert ledger.status == "intent" and ledger.attempts == 1
    assert ledger.result["sendgrid"]["state"] == "accepted" and ledger.provider_ref == accepted.message_id

    retried = send(mail.acts, lead_id, "follow_up", key=key)  # Temporal's retry, a fresh worker
    assert retried.status == "sent" and retried.message_id == accepted.message_id
    settle(mail)
    assert len(mail.box.messages(message_key=key)) == 1
    [interaction] = email_interactions(mail.app, lead_id)
    assert interaction.provider_ref == accepted.message_id and interaction.status == "opened"


def test_answer_lost_between_accept_and_journal_is_not_resent(mail, monkeypatch):
    """The worst case: SendGrid accepted, the worker died before even the journal knew. The retry
    does not send again; the message's events later replace the placeholder with the real id."""
    lead_id = make_lead(mail.app, "delivers.lost@example.org")
    key = f"chain-x:email:nurture:0:1:{lead_id}"
    journal = sender_mod._journal

    def dies_before_accept_is_journaled(key_, state, **kw):
        if state == "accepted":
            raise WorkerKilled()
        return journal(key_, state, **kw)

    # The events come after the retry (SendGrid's come seconds later; the retry is immediate here).
    mail.sandbox.state.webhook_modes["sendgrid"] = WebhookMode(delay_s=0.6)
    monkeypatch.setattr(sender_mod, "_journal", dies_before_accept_is_journaled)
    with pytest.raises(WorkerKilled):
        send(mail.acts, lead_id, "nurture", 1, key=key)
    monkeypatch.setattr(sender_mod, "_journal", journal)
    [accepted] = mail.box.messages(message_key=key)
    assert _ledger(mail.app, key).result["sendgrid"]["state"] == "in_flight"

    retried = send(mail.acts, lead_id, "nurture", 1, key=key)
    assert retried.status == "sent" and retried.message_id.startswith("unconfirmed-")
    settle(mail)
    assert len(mail.box.messages(message_key=key)) == 1  # not sent twice
    [interaction] = email_interactions(mail.app, lead_id)
    assert interaction.provider_ref == accepted.message_id  # confirmed by its events
    assert interaction.status == "opened" and interaction.data["confirmed_from"] == retried.message_id
    assert _ledger(mail.app, key).provider_ref == accepted.message_id


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_refused_by_sendgrid_is_retried_and_sent_once(mail):
    """An error answer means nothing was accepted: the retry sends (once)."""
    lead_id = make_lead(mail.app, "delivers.retry@example.org")
    key = f"chain-x:email:follow_up:0:0:{lead_id}"
    mail.sandbox.state.faults["sendgrid"] = Fault(status=503, remaining=1)
    with pytest.raises(ApplicationError) as failed:
        send(mail.acts, lead_id, "follow_up", key=key)
    assert failed.value.type == "ProviderUnavailable" and not failed.value.non_retryable
    assert mail.box.messages(message_key=key) == []
    assert _ledger(mail.app, key).result["sendgrid"]["state"] == "failed"
    assert send(mail.acts, lead_id, "follow_up", key=key).status == "sent"
    assert len(mail.box.messages(message_key=key)) == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_bad_request_is_not_retried(mail):
    set_settings(mail.app, "email", from_address="not an address")
    lead_id = make_lead(mail.app, "delivers.bad@example.org")
    with pytest.raises(ApplicationError) as failed:
        send(mail.acts, lead_id, "follow_up")
    assert failed.value.type == "ProviderRejected" and failed.value.non_retryable
    assert "from email does not contain a valid address" in str(failed.value)
    with mail.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Interaction)) == 0


def test_an_attempt_that_outlived_its_window_sends_nothing(mail):
    """The retry looked, found no send and sent; the first attempt, woken after it, must not send too."""
    lead_id = make_lead(mail.app, "delivers.late@example.org")
    key = f"chain-x:email:follow_up:0:0:{lead_id}"
    retried = []
    first = ProviderActivities(
        mail.app,
        ProviderRegistry({}),
        ParkedUntilTheRetryRan(mail.sender, lambda: retried.append(send(mail.acts, lead_id, "follow_up", key=key))),
    )
    with pytest.raises(ApplicationError) as late:
        send(first, lead_id, "follow_up", key=key)
    assert late.value.type == "Superseded" and late.value.non_retryable
    [retry] = retried
    assert retry.status == "sent"
    settle(mail)
    [sent] = mail.box.messages(message_key=key)
    assert sent.message_id == retry.message_id
    ledger = _ledger(mail.app, key)
    assert ledger.attempts == 2 and ledger.status == "done" and ledger.provider_ref == retry.message_id
    [interaction] = email_interactions(mail.app, lead_id)
    assert interaction.provider_ref == retry.message_id
