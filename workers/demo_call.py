"""`leadchain demo-call`: one own-agent call (issue 22) through the running local stack.

The company's twilio_realtime provider (keyless: the sandbox's Twilio) dials the newest demo lead whose
sandbox persona answers; the sandbox plays a named script (sandbox.call_scripts.SCENARIOS) as the callee
over a Media Stream to the local voice bridge, which talks to the sandbox's OpenAI Realtime stand-in and runs
the CRM tools; Twilio's signed status callbacks reach the web app. No chain runs the call (its result is
recorded on the lead, not handed to a chain)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import click
import httpx
import sqlalchemy as sa

from crm import create_app, secret_names
from crm.extensions import db
from crm.models import Interaction, Lead
from crm.tenancy.context import company_scope
from providers.base import CallRequest
from providers.factory import registry
from sandbox.call_scripts import SCENARIOS
from sandbox.personas import persona_for
from workers.launcher import BRIDGE_HOST, BRIDGE_PORT

DEMO_COMPANY_ID = 1  # the installation's own company (crm.demo's first)
FROM_NUMBER = "+4930555000"
ENDED = ("completed", "busy", "no-answer", "failed", "canceled")


class DemoCallError(Exception):
    pass


def twilio_stream_url(app: Any) -> str:
    """The local bridge's Media Streams route with its path secret."""
    values = app.extensions["leadchain.secrets"].get_list(secret_names.BRIDGE_TWILIO_MEDIA_PATH_SECRET)
    if not values:
        raise DemoCallError("no secret bridge/twilio-media-path-secret: start the stack with `make up` first")
    return f"ws://{BRIDGE_HOST}:{BRIDGE_PORT}/twilio/media/{values[0]}"


def _callee() -> Lead:
    leads = db.session.scalars(
        sa.select(Lead).where(Lead.phone_e164.is_not(None), Lead.do_not_contact.is_(False)).order_by(Lead.id.desc())
    ).all()
    for lead in leads:
        if lead.phone_e164 and persona_for(lead.phone_e164).answered:
            return lead
    raise DemoCallError("no demo lead to call: `leadchain demo` posts the sample leads")


def place(app: Any, provider_name: str, scenario: str, url: str, sandbox_url: str, wait_s: float) -> Iterator[str]:
    """Place the call and yield what happened, line by line."""
    configured = app.config["LEADCHAIN"].providers
    settings = app.config["LEADCHAIN"].with_part(
        "providers",
        sandbox_url=sandbox_url,
        public_url=url.rstrip("/"),
        twilio_stream_url=configured.twilio_stream_url or twilio_stream_url(app),
        twilio_from_number=configured.twilio_from_number or FROM_NUMBER,
    )
    app.config["LEADCHAIN"] = settings
    with app.app_context(), company_scope(DEMO_COMPANY_ID):
        lead = _callee()
        to = str(lead.phone_e164)
        chosen = httpx.post(f"{sandbox_url}/twilio_realtime/scripts", json={"to": to, "script": scenario}, timeout=10)
        if chosen.status_code != 200:
            raise DemoCallError(f"the sandbox refused the script: {chosen.status_code} {chosen.text[:200]}")
        provider: Any = registry(app).get(provider_name)
        if provider is None:
            raise DemoCallError(f"no {provider_name} provider for the demo company")
        request = CallRequest(
            lead_id=lead.id,
            chain_id="",
            idempotency_key=f"demo-call:{uuid.uuid4().hex}",
            to_number=to,
            language=lead.language or "en",
            agent_id="agent_demo",
            from_number=FROM_NUMBER,
        )
        placed = provider.place_call(request)
        yield f"{provider_name} call {placed.call_id} to lead {lead.id} ({scenario}); see {sandbox_url}/sandbox/calls"
        deadline = time.monotonic() + wait_s
        status = ""
        while time.monotonic() < deadline:
            status = provider.client.calls(placed.call_id).fetch().status
            if status in ENDED:
                break
            time.sleep(0.5)
        else:
            yield f"still {status} after {wait_s:.0f} s"
            return
        time.sleep(1.0)  # the last status callback
        db.session.expire_all()
        call = db.session.scalars(
            sa.select(Interaction).where(
                Interaction.provider == provider_name, Interaction.provider_ref == placed.call_id
            )
        ).one_or_none()
        outcome = call.outcome if call is not None else None
        yield f"ended: Twilio {status}; the CRM's call record: {outcome or 'no outcome'} (lead {lead.id})"


@click.command("demo-call")
@click.option("--provider", type=click.Choice(["twilio_realtime"]), default="twilio_realtime", show_default=True)
@click.option("--scenario", type=click.Choice(sorted(SCENARIOS)), default="books_tuesday", show_default=True)
@click.option("--url", default="http://127.0.0.1:5000", show_default=True, help="the running web app")
@click.option("--sandbox-url", default="http://127.0.0.1:8099", show_default=True)
@click.option("--wait", "wait_s", type=float, default=90.0, show_default=True, help="seconds to wait for its end")
def demo_call_command(provider: str, scenario: str, url: str, sandbox_url: str, wait_s: float) -> None:
    """Place one own-agent call to a demo lead through the local stack (sandbox Twilio -> voice bridge ->
    sandbox OpenAI Realtime) and print how it ended."""
    try:
        for line in place(create_app(), provider, scenario, url, sandbox_url, wait_s):
            click.echo(line)
    except DemoCallError as e:
        raise click.ClickException(str(e)) from None
