"""SendGrid's retry of an inbound reply whose lead was erased in between answers 200, not 500.

The first delivery is stored but answered 503 (Temporal down), so SendGrid retries. If the lead is erased
before the retry (by hand, on a person's request), the retry has no chain left to stop: it says so
("no_chain") instead of failing on the missing lead."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Lead
from crm.temporal_gateway import TemporalUnavailable
from tests.conftest import make_test_secrets
from tests.email.conftest import FakeGateway, Signer, make_lead
from tests.email.test_replies import _fields, _inbound


class Down(FakeGateway):
    def signal(self, *a):
        raise TemporalUnavailable("down")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_retry_after_the_lead_was_erased_answers_no_chain(app, client):
    signer = Signer()
    app.extensions["leadchain.secrets"] = make_test_secrets(
        LEADCHAIN_SECRET_PROVIDERS_SENDGRID_WEBHOOK_PUBLIC_KEY=signer.public_b64
    )
    app.extensions["leadchain.temporal"] = Down()
    lead_id = make_lead(app, "erika.erased@example.org", chain_id="chain-erased")
    fields = _fields("erika.erased@example.org", subject="AW: Bitte rufen Sie an")

    first = _inbound(client, signer, fields)
    assert first.status_code == 503 and first.headers["Retry-After"] == "60"

    with app.app_context():
        db.session.execute(sa.delete(Lead).where(Lead.id == lead_id))
        db.session.commit()
    gateway = app.extensions["leadchain.temporal"] = FakeGateway()

    retry = _inbound(client, signer, fields)
    assert retry.status_code == 200
    body = retry.get_json()
    assert body["lead"] == lead_id and body["stop"] == "replied" and body["chain"] == "no_chain"
    assert gateway.signals == []
