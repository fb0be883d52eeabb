"""Inbox retention (crm/services/inbox_purge.py): delivered rows past the retention go, in batches; rows the
relay still owes stay whatever their age; under 7 days is refused. Both databases (the `backend` fixture)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from crm.extensions import db
from crm.models import CallResultDelivery, WebhookDelivery
from crm.models.types import utcnow
from crm.services.inbox_purge import purge_inboxes
from crm.tenancy.context import operator_scope


def _webhook(key: str, age_days: float) -> None:
    db.session.add(
        WebhookDelivery(
            source="retell",
            delivery_key=key,
            payload_hash="0" * 64,
            received_at=utcnow() - timedelta(days=age_days),
        )
    )


def _result(event_id: str, age_days: float, delivered: bool) -> None:
    at = utcnow() - timedelta(days=age_days)
    db.session.add(
        CallResultDelivery(
            event_id=event_id,
            chain_id="lead-x",
            result={"call_id": event_id},
            created_at=at,
            next_attempt_at=at,
            delivered_at=at if delivered else None,
            delivered_by="update" if delivered else None,
        )
    )


def _left() -> tuple[list[str], list[str]]:
    with operator_scope("test", "read what the purge left"):
        hooks = db.session.scalars(sa.select(WebhookDelivery.delivery_key).order_by(WebhookDelivery.id)).all()
        results = db.session.scalars(sa.select(CallResultDelivery.event_id).order_by(CallResultDelivery.id)).all()
    return list(hooks), list(results)


def test_delivered_rows_past_the_retention_go_in_batches_and_owed_ones_stay(app, ctx):
    for n in range(7):
        _webhook(f"old-{n}", 31 + n)
    _webhook("recent", 29)
    for n in range(3):
        _result(f"retell:old-{n}", 40, delivered=True)
    _result("retell:owed", 400, delivered=False)  # never delivered: the relay still owes it
    _result("retell:recent", 2, delivered=True)
    db.session.commit()

    done = purge_inboxes(30, batch=3)

    assert (done.webhook_deliveries, done.call_result_deliveries, done.total) == (7, 3, 10)
    assert _left() == (["recent"], ["retell:owed", "retell:recent"])
    assert purge_inboxes(30).total == 0  # nothing more to do


def test_a_retention_under_a_week_is_refused(app, ctx):
    _webhook("five-days", 5)
    db.session.commit()
    with pytest.raises(ValueError, match="at least 7 days"):
        purge_inboxes(3)
    assert _left()[0] == ["five-days"]
    assert purge_inboxes(7).total == 0


def test_the_command_uses_the_retention_setting(app, ctx, monkeypatch):
    from workers import cli

    _webhook("forty", 40)
    _webhook("twenty", 20)
    db.session.commit()
    monkeypatch.setattr(cli, "_app", lambda: app)
    runner = CliRunner()
    shorter = runner.invoke(cli.main, ["purge-inbox", "--older-than-days", "3"])
    assert shorter.exit_code == 2 and "at least 7 days" in shorter.output
    done = runner.invoke(cli.main, ["purge-inbox"])  # the app's delivery_retention_days: 30
    assert done.exit_code == 0, done.output
    assert "1 webhook deliveries and 0 call results" in done.output
    db.session.remove()
    assert _left()[0] == ["twenty"]


def test_the_relay_purges_on_its_loop(app, ctx):
    from workers.relay import PURGE_EVERY_S, Relay

    _webhook("forty", 40)
    db.session.commit()
    Relay(app, client=None)._purge_inboxes()  # type: ignore[arg-type]  # the purge needs no Temporal
    assert _left()[0] == [] and PURGE_EVERY_S == 3600
