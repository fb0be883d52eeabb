"""`leadchain demo-call --provider twilio_realtime` (workers/demo_call.py) against the same real parts as the
end-to-end calls: it picks the newest answering lead, has the sandbox play the chosen script, places the
call through the company's twilio_realtime provider and reports how it ended; and the local stack's wiring
of the own agent (workers/launcher.py)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Appointment, Lead
from tests.voice.twilio.conftest import number
from tests.voice.twilio_e2e.conftest import Stack, seed_lead
from workers import demo_call, launcher


def test_demo_call_books_a_demo_lead(stack: Stack):
    seed_lead(stack.app, number(5))  # "no_answer": passed over
    lead_id = seed_lead(stack.app, number(1))
    seed_lead(stack.app, number(6))  # "busy": passed over (the newest)
    lines = list(
        demo_call.place(stack.app, "twilio_realtime", "books_tuesday", stack.env.crm.url, stack.env.box.url, 40)
    )
    assert lines[0].startswith("twilio_realtime call CA") and f"to lead {lead_id} " in lines[0], lines
    assert lines[-1] == f"ended: Twilio completed; the CRM's call record: booked (lead {lead_id})", lines
    booked = stack.db(lambda: db.session.scalars(sa.select(Appointment).where(Appointment.lead_id == lead_id)).all())
    assert len(booked) == 1
    assert stack.db(lambda: db.session.get(Lead, lead_id).status) == "booked"


def test_the_local_stack_wires_the_own_agent(tmp_path: Path):
    secret = "LEADCHAIN_SECRET_BRIDGE_TWILIO_MEDIA_PATH_SECRET"
    made = launcher._new_local_secrets()
    assert made[secret] and made["LEADCHAIN_SECRET_BRIDGE_REALTIME_API_KEY"] == launcher.SANDBOX_OPENAI_KEY
    env = launcher.stack_environment(tmp_path, base={"PATH": "/usr/bin"})
    assert env["LEADCHAIN_BRIDGE_REALTIME_URL"] == f"ws://127.0.0.1:{launcher.REALTIME_PORT}/v1"
    twilio = launcher.twilio_env(env, "127.0.0.1", 5000)
    assert twilio["LEADCHAIN_PUBLIC_URL"] == "http://127.0.0.1:5000"
    assert twilio["LEADCHAIN_TWILIO_STREAM_URL"] == f"ws://127.0.0.1:8765/twilio/media/{env[secret]}"
    [sandbox] = [s for s in launcher.local_services("127.0.0.1", 5000, tmp_path, None) if s.name == "sandbox"]
    assert sandbox.argv[-2:] == ["--realtime-port", str(launcher.REALTIME_PORT)]
    assert launcher.DEMO_CALL == "leadchain demo-call --provider twilio_realtime"
