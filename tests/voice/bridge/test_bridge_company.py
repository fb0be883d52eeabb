"""The bridge serves a call in its company (voice/bridge/crm_tools.py, lead_records.company_for_call): the
company comes from a record we wrote (the call's interaction, else the placed call's ledger row), never
from the metadata alone; every tool runs in that company's unit of work in its worker thread, and a call
whose company is not found reaches no company's rows. Both databases (the `backend` fixture)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind, Lead, SideEffect
from crm.models.companies import Company
from crm.tenancy.context import NoCompanyScope, company_scope, current_company_id, operator_scope
from tests.voice.content_timing import CONTENT_TIMING
from voice.bridge import booking
from voice.bridge.config import BridgeConfig
from voice.bridge.crm_tools import CrmToolsFactory
from voice.bridge.metrics import BridgeMetrics

pytestmark = pytest.mark.tenancy


def _lead(company_id: int, phone: str) -> int:
    lead = Lead(first_name="Jürgen", last_name="Weber", phone_e164=phone, language="de", source="website")
    with company_scope(company_id):
        db.session.add(lead)
        db.session.commit()
        return lead.id


@pytest.fixture
def two_companies(app):
    """Company 1 (the test company) and a second one, each with a lead; company 2's lead has a placed call
    (interaction "call-2") and a ledger row of another call ("key-2") not yet known by its call id."""
    with app.app_context():
        with operator_scope("tests", "a second company"):
            other = Company(slug="zweite", name="Zweite GmbH")
            db.session.add(other)
            db.session.commit()
            other_id = other.id
        mine, theirs = _lead(1, "+493023125101"), _lead(other_id, "+493023125102")
        with company_scope(other_id):
            db.session.add(
                Interaction(
                    lead_id=theirs,
                    kind=InteractionKind.CALL,
                    direction=Direction.OUTBOUND,
                    provider="retell",
                    provider_ref="call-2",
                    status="in_progress",
                    created_by="chain",
                    data={"chain_id": f"c{other_id}-lead-x"},
                )
            )
            db.session.add(SideEffect(key="key-2", kind="call", lead_id=theirs))
            db.session.commit()
        db.session.remove()
    return {"other": other_id, "mine": mine, "theirs": theirs}


def _company_for(app, call_id: str, provider: str, metadata: dict | None) -> int | None:
    with app.app_context(), operator_scope("voice-bridge", "find the company of a call"):
        try:
            return booking.company_for_call(call_id, provider, metadata)
        finally:
            db.session.remove()


def test_a_calls_company_comes_from_our_own_records(app, two_companies):
    other, mine, theirs = two_companies["other"], two_companies["mine"], two_companies["theirs"]
    assert _company_for(app, "call-2", "retell", None) == other
    # Not yet known by its call id: the ledger row of the key we placed it with, for the lead it names.
    assert _company_for(app, "call-new", "retell", {"lead_id": str(theirs), "idempotency_key": "key-2"}) == other
    # A lead id alone, or a key for another lead, names no company.
    assert _company_for(app, "call-new", "retell", {"lead_id": str(theirs)}) is None
    assert _company_for(app, "call-new", "retell", {"lead_id": str(mine), "idempotency_key": "key-2"}) is None
    assert _company_for(app, "call-2", "vapi", {"lead_id": "x", "idempotency_key": "key-2"}) is None


async def test_every_tool_call_runs_in_the_calls_company(app, two_companies):
    other, theirs = two_companies["other"], two_companies["theirs"]
    factory = CrmToolsFactory(app, config=BridgeConfig(**CONTENT_TIMING), metrics=BridgeMetrics())
    try:
        ctx = await factory.context("call-2", "retell", {})
        assert ctx.company_id == other and ctx.callee.lead_id == theirs
        assert ctx.chain_id == f"c{other}-lead-x"

        def probe() -> tuple[int | None, bool, list[int]]:
            # What a tool sees in its worker thread: the call's company, and only its rows.
            leads = list(db.session.scalars(sa.select(Lead.id)))
            return current_company_id(), threading.current_thread() is threading.main_thread(), leads

        assert await factory.runner.call("probe", probe, company_id=ctx.company_id) == (other, False, [theirs])
        assert current_company_id() is None  # the event loop's context is untouched

        unknown = await factory.context("call-unknown", "retell", {"lead_id": str(theirs)})
        assert unknown.company_id is None and unknown.callee.lead_id is None
        with pytest.raises(NoCompanyScope):
            await factory.runner.call("probe", probe, company_id=unknown.company_id)
    finally:
        factory.close()
