"""Call recordings play through the CRM (crm.ui.recordings), streamed from the provider sandbox over HTTP.

The sandbox plays a real Retell call and serves its recording (a WAV, with Range support) at the URL
its call object names; the CRM's call record holds that URL, as the webhook stores it. Checked: the
bytes arrive unchanged, Range requests come back 206 with the right slice, access follows the lead
rules (404, before any provider is asked), and a failing provider (late, erring, gone, not audio)
gives a page or a safe answer, never a 500. SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind
from crm.ui import recordings
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.helpers import in_app
from tests.sandbox_fixtures import ServerThread, free_port

RETELL = {"Authorization": "Bearer key_sandbox_retell"}


def sandbox_call(sandbox_url: str, number: str = "+493023125190") -> tuple[str, str]:
    """Play a Retell call in the sandbox until it has a recording: (recording URL, call id)."""
    with httpx.Client(base_url=sandbox_url, headers=RETELL, timeout=10) as http:
        call_id = http.post(
            "/retell/v2/create-phone-call", json={"from_number": "+4930555000", "to_number": number}
        ).json()["call_id"]
        deadline = time.monotonic() + 10
        while "recording_url" not in (call := http.get(f"/retell/v2/get-call/{call_id}").json()):
            assert time.monotonic() < deadline, call
            time.sleep(0.05)
    return call["recording_url"], call_id


@pytest.fixture(scope="module")
def provider():
    """The sandbox alone, and one ended Retell call of the "books" persona: (sandbox URL, recording URL)."""
    with ServerThread(create_sandbox_app(SandboxConfig(step_s=0.05))) as server:
        yield server.url, sandbox_call(server.url)[0]


def add_call(app, lead_id: int, url: str | None) -> int:
    def add():
        call = Interaction(
            lead_id=lead_id,
            kind=InteractionKind.CALL,
            direction=Direction.OUTBOUND,
            provider="retell",
            provider_ref=f"call_proxy_{uuid.uuid4().hex[:12]}",
            status="ended",
            recording_url=url,
        )
        db.session.add(call)
        db.session.commit()
        return call.id

    return in_app(app, add)


def fault(sandbox_url: str, **spec) -> None:
    assert httpx.post(f"{sandbox_url}/sandbox/recording-faults", json=spec).json() == {"ok": True}


def test_the_recording_streams_unchanged_and_seeks(ui_app, as_sales_a, leads, provider):
    sandbox_url, recording_url = provider
    original = httpx.get(recording_url).content
    assert original[:4] == b"RIFF" and original[8:12] == b"WAVE"
    call_id = add_call(ui_app, leads.own, recording_url)
    path = f"/leads/{leads.own}/calls/{call_id}/recording"

    r = as_sales_a.get(path)
    assert r.status_code == 200 and r.mimetype == "audio/wav"
    assert r.get_data() == original and int(r.headers["Content-Length"]) == len(original)
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Content-Disposition"] == f'inline; filename="call-{call_id}.wav"'

    part = as_sales_a.get(path, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.get_data() == original[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(original)}"
    tail = as_sales_a.get(path, headers={"Range": f"bytes={len(original) - 10}-"})
    assert tail.status_code == 206 and tail.get_data() == original[-10:]
    beyond = as_sales_a.get(path, headers={"Range": f"bytes={len(original) + 10}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(original)}"

    download = as_sales_a.get(f"{path}?download=1")
    assert download.headers["Content-Disposition"] == f'attachment; filename="call-{call_id}.wav"'


def test_the_lead_page_names_only_the_proxy(ui_app, as_sales_a, leads, provider):
    _, recording_url = provider
    call_id = add_call(ui_app, leads.own, recording_url)
    r = as_sales_a.get(f"/leads/{leads.own}")
    page = r.get_data(as_text=True)
    assert f'src="/leads/{leads.own}/calls/{call_id}/recording"' in page
    assert recording_url not in page and "127.0.0.1" not in page
    assert "media-src 'self';" in r.headers["Content-Security-Policy"] + ";"


def test_only_who_may_see_the_lead_hears_its_calls(ui_app, as_sales_a, as_manager, anon, leads, provider):
    _, recording_url = provider
    foreign_call = add_call(ui_app, leads.foreign, recording_url)
    own_call = add_call(ui_app, leads.own, recording_url)
    assert as_sales_a.get(f"/leads/{leads.foreign}/calls/{foreign_call}/recording").status_code == 404
    # A call id of another lead under one's own lead is no way around it.
    assert as_sales_a.get(f"/leads/{leads.own}/calls/{foreign_call}/recording").status_code == 404
    assert as_manager.get(f"/leads/{leads.foreign}/calls/{foreign_call}/recording").status_code == 200
    assert anon.get(f"/leads/{leads.own}/calls/{own_call}/recording").status_code == 302
    # No recording, or a URL that is not a web URL: nothing to play.
    for url in (None, "javascript:alert(1)", "file:///etc/passwd"):
        assert (
            as_sales_a.get(f"/leads/{leads.own}/calls/{add_call(ui_app, leads.own, url)}/recording").status_code == 404
        )


def test_a_failing_provider_gets_a_page_not_a_500(ui_app, as_sales_a, leads, provider, monkeypatch):
    sandbox_url, recording_url = provider
    call_id = add_call(ui_app, leads.own, recording_url)
    path = f"/leads/{leads.own}/calls/{call_id}/recording"

    fault(sandbox_url, status=503)
    r = as_sales_a.get(path)
    assert r.status_code == 502 and "Die Aufnahme ist gerade nicht verfügbar" in r.get_data(as_text=True)

    monkeypatch.setattr(recordings, "READ_TIMEOUT_S", 0.3)
    fault(sandbox_url, delay_s=1.5)
    r = as_sales_a.get(path)
    assert r.status_code == 504 and "nicht rechtzeitig geantwortet" in r.get_data(as_text=True)

    assert as_sales_a.get(path).status_code == 200  # the provider is well again

    # Storage that answers with something else than audio: never served as a page of our origin.
    fault(sandbox_url, content_type="text/html; charset=utf-8")
    r = as_sales_a.get(path)
    assert r.status_code == 200 and r.mimetype == "application/octet-stream"
    assert r.headers["X-Content-Type-Options"] == "nosniff"

    unreachable = add_call(ui_app, leads.own, f"http://127.0.0.1:{free_port()}/gone.wav")
    r = as_sales_a.get(f"/leads/{leads.own}/calls/{unreachable}/recording")
    assert r.status_code == 502

    # The provider erased the call: its recording is gone, and so it is for us.
    erased_url, erased_ref = sandbox_call(sandbox_url, "+493023125180")
    erased = add_call(ui_app, leads.own, erased_url)
    assert as_sales_a.get(f"/leads/{leads.own}/calls/{erased}/recording").status_code == 200
    assert httpx.delete(f"{sandbox_url}/retell/v2/delete-call/{erased_ref}", headers=RETELL).status_code == 204
    assert as_sales_a.get(f"/leads/{leads.own}/calls/{erased}/recording").status_code == 404
