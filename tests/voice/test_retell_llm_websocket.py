"""A Retell agent configured with a custom LLM WebSocket: the sandbox call connects to it and speaks the
persona's lines through the real protocol; the agent's lines come from the server (the voice bridge)."""

from __future__ import annotations

import json
import threading
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa
from websockets.sync.server import serve

from activities.ledger import claim
from activities.provider_activities import ProviderActivities
from crm.extensions import db
from crm.models import Interaction, Lead
from providers.base import CallRequest
from providers.retell import RetellProvider
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.conftest import set_settings
from tests.helpers import in_app
from tests.sandbox_fixtures import ServerThread, free_port
from workflows.payloads import PlaceCallInput


def _lead() -> int:
    lead = Lead(source="test", first_name="Jan", last_name="Weber", phone_e164="+493023125190", language="de")
    db.session.add(lead)
    db.session.commit()
    return lead.id


class ScriptedLlmServer:
    """A minimal custom-LLM server: config, begin message, one streamed answer per response_required."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict] = []
        self.paths: list[str] = []
        self.server = serve(self._handle, "127.0.0.1", self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"ws://127.0.0.1:{self.port}/llm-websocket/secret-path"

    def _handle(self, ws) -> None:
        self.paths.append(ws.request.path)
        ws.send(json.dumps({"response_type": "config", "config": {"auto_reconnect": True, "call_details": True}}))
        ws.send(
            json.dumps(
                {
                    "response_type": "response",
                    "response_id": 0,
                    "content": "Hallo, hier ist die KI-Assistentin. ",
                    "content_complete": False,
                }
            )
        )
        ws.send(
            json.dumps(
                {
                    "response_type": "response",
                    "response_id": 0,
                    "content": "Das Gespräch wird aufgezeichnet.",
                    "content_complete": True,
                }
            )
        )
        for frame in ws:
            message = json.loads(frame)
            self.received.append(message)
            if message["interaction_type"] == "response_required":
                rid = message["response_id"]
                # A stale answer first: Retell drops responses whose id is not the current one.
                ws.send(
                    json.dumps(
                        {
                            "response_type": "response",
                            "response_id": rid - 1,
                            "content": "(stale)",
                            "content_complete": True,
                        }
                    )
                )
                last = rid >= 3
                ws.send(
                    json.dumps(
                        {
                            "response_type": "response",
                            "response_id": rid,
                            "content": f"Antwort {rid}",
                            "content_complete": True,
                            "end_call": last,
                        }
                    )
                )

    def close(self) -> None:
        self.server.shutdown()


@pytest.mark.parametrize("backend", ["sqlite"])  # the CRM only receives webhooks here
def test_sandbox_call_talks_to_the_custom_llm_server(app, crm_server):
    llm = ScriptedLlmServer()
    sandbox_app = create_sandbox_app(
        SandboxConfig(webhook_base=crm_server.url, step_s=0.05, retell_llm_websocket_url=llm.url)
    )
    try:
        with ServerThread(sandbox_app) as sandbox:
            # The call's webhooks must be answered 2xx, or the sandbox retries them as Retell does and is
            # never idle. Since tenancy an event no record routes to a company is a 404 (crm/webhooks/
            # provider_common.route), so the call is recorded as the chain's place_call activity records
            # it: the lead, the ledger row before dialling, the interaction after; and the CRM verifies
            # the sandbox's signatures.
            set_settings(app, "providers", sandbox_url=sandbox.url)
            lead_id = in_app(app, _lead)
            key = f"k-llm-{uuid.uuid4()}"
            in_app(app, lambda: (claim(key, "call", lead_id), db.session.commit()))
            provider = RetellProvider(api_key="key_sandbox_retell", base_url=f"{sandbox.url}/retell")
            call = provider.place_call(
                CallRequest(
                    lead_id=lead_id,
                    chain_id="lead-x",
                    idempotency_key=key,
                    to_number="+493023125190",
                    language="de",
                    agent_id="agent_llm",
                    from_number="+4930555000",
                )
            )
            recorder = ProviderActivities(app, providers=None, email=None)  # type: ignore[arg-type]  (_placed asks none)
            placed = PlaceCallInput(lead_id=lead_id, chain_id="lead-x", attempt=1, idempotency_key=key)
            in_app(app, lambda: recorder._placed(claim(key, "call", lead_id), placed, "retell", call.call_id))
            extra = sandbox_app.extensions["sandbox"].state.get("retell", call.call_id).extra
            for _ in range(200):
                if "live_transcript" in extra or "llm_error" in extra:
                    break
                time.sleep(0.05)
            assert "llm_error" not in extra, extra.get("llm_error")
            live = extra["live_transcript"]
            # The call ends a moment after the conversation (as on Retell): until then get-call shows it
            # ongoing, without a transcript. Poll as a client would.
            for _ in range(200):
                fetched = httpx.get(
                    f"{sandbox.url}/retell/v2/get-call/{call.call_id}",
                    headers={"Authorization": "Bearer key_sandbox_retell"},
                ).json()
                if fetched["call_status"] == "ended":
                    break
                time.sleep(0.05)
            assert fetched["call_status"] == "ended", fetched["call_status"]
            assert sandbox_app.extensions["sandbox"].dispatcher.idle(30)
            # Every webhook was taken: the CRM holds the call as ended.
            stored = in_app(
                app,
                lambda: (
                    db.session.scalars(
                        sa.select(Interaction).where(
                            Interaction.provider == "retell", Interaction.provider_ref == call.call_id
                        )
                    )
                    .one()
                    .status
                ),
            )
            assert stored == "ended", stored
    finally:
        llm.close()
    assert llm.paths == [f"/llm-websocket/secret-path/{call.call_id}"]
    kinds = [m["interaction_type"] for m in llm.received]
    assert kinds[0] == "call_details" and llm.received[0]["call"]["call_id"] == call.call_id
    required = [m["response_id"] for m in llm.received if m["interaction_type"] == "response_required"]
    assert required == [1, 2, 3]  # the "books" persona has more lines, but the server ended the call at 3
    assert "update_only" in kinds
    # The agent's words are the server's (stale answers dropped); the callee's are the persona's.
    assert live[0] == ("agent", "Hallo, hier ist die KI-Assistentin. Das Gespräch wird aufgezeichnet.")
    assert [t for who, t in live if who == "agent"][1:] == ["Antwort 1", "Antwort 2", "Antwort 3"]
    assert [t for who, t in live if who == "callee"][0] == "Ja, am Apparat."
    assert "(stale)" not in fetched["transcript"] and "Antwort 3" in fetched["transcript"]
