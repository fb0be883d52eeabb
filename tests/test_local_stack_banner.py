"""The `make up` banner (issue 12, part 2): URL, demo logins, the calling-hours situation computed from the
gate's policy for the demo leads' zones, and two curls that really work, run here against a real gunicorn
on loopback from a "second terminal" (an environment without any secret).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from crm.demo import DEMO_PASSWORD, USERS
from crm.services.compliance import GatePolicy, is_within_window, next_window_start
from tests.sandbox_fixtures import free_port
from tests.test_local_stack_cli import LEADCHAIN, REPO, leadchain, second_terminal_env
from workers import banner, demo_window
from workers.launcher import stack_banner, stack_environment

SUNDAY_NOON = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)  # 12:00 in Berlin
MONDAY_MORNING = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)  # 10:30 in Berlin, 04:30 in New York


def render(now: datetime, policy: GatePolicy | None = None, **kw) -> str:
    return banner.render(
        services=[("web", "http://127.0.0.1:5000/  (API spec: /api/openapi.json)")],
        base_url="http://127.0.0.1:5000/",
        secrets_file=Path("/srv/var/local-secrets.env"),
        leadchain="/opt/leadchain/bin/leadchain",
        var_dir_override=None,
        policy=policy or GatePolicy.from_env({}),
        now_utc=now,
        **kw,
    )


def test_the_demo_leads_are_called_in_their_own_zones():
    zones = {(z.region, z.zone) for z in banner.demo_lead_zones()}
    # crm/demo_leads.json: Berlin and Munich numbers, a San Francisco and a New York one.
    assert zones == {("DE", "Europe/Berlin"), ("US", "America/Los_Angeles"), ("US", "America/New_York")}


def test_banner_names_the_url_the_logins_and_the_secrets_file():
    text = render(SUNDAY_NOON)
    assert "http://127.0.0.1:5000/" in text and "/srv/var/local-secrets.env" in text
    for email, _name, role, _lang in USERS:
        assert any(email in line and role.value in line for line in text.splitlines()), email
    assert DEMO_PASSWORD in text
    # A password of one's own is not printed.
    assert DEMO_PASSWORD not in render(SUNDAY_NOON, password_from_env=True)


def test_on_a_sunday_every_zone_waits_and_the_banner_says_until_when_and_how_to_demo_now():
    text = render(SUNDAY_NOON)
    policy = GatePolicy.from_env({})
    for zone, region in (("Europe/Berlin", "DE"), ("America/New_York", "US"), ("America/Los_Angeles", "US")):
        opens = next_window_start(SUNDAY_NOON, zone, policy.window_for(region), policy.holiday_calendar(region))
        line = next(line for line in text.splitlines() if f"{region} leads ({zone}" in line)
        assert "closed" in line and f"opens {opens.astimezone(banner.ZoneInfo(zone)):%a %H:%M} local" in line
    assert "opens Mon 09:00 local (in 21 h 0 min)" in text  # Berlin: Mon-Fri 09:00-20:00
    assert "opens Mon 08:00 local = Mon 14:00 Berlin" in text  # New York: Mon-Fri 08:00-21:00
    assert "LEADCHAIN_DEMO_ANYTIME=1" in text
    assert "DEMO-ONLY" not in text


def test_on_a_monday_morning_germany_is_open_and_new_york_not_yet():
    text = render(MONDAY_MORNING)
    assert "DE leads (Europe/Berlin, Mon,Tue,Wed,Thu,Fri 09:00-20:00): open now" in text
    assert "opens Mon 08:00 local = Mon 14:00 Berlin (in 3 h 30 min)" in text


def test_demo_anytime_opens_every_zone_at_night_on_a_sunday_and_says_so_loudly(tmp_path):
    env = stack_environment(tmp_path, base=second_terminal_env(tmp_path, LEADCHAIN_DEMO_ANYTIME="1"))
    policy = GatePolicy.from_env(env)  # what the gate reads in the stack's processes
    night = datetime(2026, 12, 6, 2, 30, tzinfo=UTC)
    holiday = datetime(2026, 12, 25, 2, 30, tzinfo=UTC)
    for region, zone in (("DE", "Europe/Berlin"), ("US", "America/New_York"), ("FR", "Europe/Paris")):
        for moment in (night, holiday):
            assert is_within_window(moment, zone, policy.window_for(region), policy.holiday_calendar(region))
    text = render(night, policy, demo_anytime=True)
    assert "DEMO-ONLY CALLING WINDOW" in text and "closed" not in text
    # Without the flag the same night is closed.
    assert not is_within_window(night, "Europe/Berlin", GatePolicy.from_env({}).window_for("DE"))


def test_demo_anytime_is_refused_off_sqlite(tmp_path):
    postgres = "postgresql://leadchain@db.example:5432/leadchain"
    env = second_terminal_env(tmp_path, LEADCHAIN_DEMO_ANYTIME="1", DATABASE_URL=postgres)
    with pytest.raises(demo_window.DemoAnytimeRefused):
        stack_environment(tmp_path, base=env)
    assert not (tmp_path / "local-secrets.env").exists()  # refused before anything was written
    for argv in (["up"], ["worker", "chain"]):
        refused = leadchain(*argv, env=env)
        assert refused.returncode != 0, argv
        assert "LEADCHAIN_DEMO_ANYTIME=1 is refused" in refused.stdout + refused.stderr, argv


def test_stored_calling_hours_are_what_the_banner_shows(tmp_path):
    env = stack_environment(tmp_path, base=second_terminal_env(tmp_path))
    assert leadchain("db-upgrade", env=env).returncode == 0
    from crm import create_app
    from crm.extensions import db
    from crm.secrets import secrets_from_env
    from crm.services import app_settings

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'leadchain.db'}"}, secrets=secrets_from_env(env)
    )
    with app.app_context():
        app_settings.set_calling_hours({"DE": {"days": "mon-sat", "start": "10:00", "end": "18:00"}}, "test")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    text = stack_banner([], "127.0.0.1", 5000, tmp_path, env)
    assert "DE leads (Europe/Berlin, Mon,Tue,Wed,Thu,Fri,Sat 10:00-18:00)" in text


# ------------------------------------------------------------------------------ the curls, for real


@pytest.fixture
def running_stack_web(tmp_path):
    """The local stack's web under gunicorn on loopback, with the launcher's environment."""
    var = tmp_path / "var"
    var.mkdir()
    env = stack_environment(var, base=second_terminal_env(var))
    assert leadchain("db-upgrade", env=env).returncode == 0
    port = free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    log = (tmp_path / "gunicorn.log").open("w")
    proc = subprocess.Popen(
        [gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", "1", "crm.wsgi:app"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
        time.sleep(0.3)
    yield var, base
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_the_printed_curls_work_from_a_second_terminal(running_stack_web):
    var, base = running_stack_web
    webhook, api = banner.curl_commands(base, LEADCHAIN)
    text = banner.render(
        services=[],
        base_url=base,
        secrets_file=var / "local-secrets.env",
        leadchain=LEADCHAIN,
        var_dir_override=None,
        policy=GatePolicy.from_env({}),
        now_utc=SUNDAY_NOON,
    )
    assert webhook in text and api in text
    secrets = (var / "local-secrets.env").read_text()
    for line in secrets.splitlines():  # no secret value is printed
        assert line.split("=", 1)[1] not in text

    shell = second_terminal_env(var)
    answers = {}
    for name, command in (("webhook", webhook), ("api", api)):
        done = subprocess.run(["bash", "-c", command], env=shell, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
        answers[name] = json.loads(done.stdout)
        assert answers[name]["status"] == "accepted", answers[name]
    with sqlite3.connect(var / "leadchain.db") as conn:
        stored = dict(conn.execute("SELECT channel, id FROM lead_submissions").fetchall())
    assert stored == {"webhook": answers["webhook"]["submission_id"], "api": answers["api"]["submission_id"]}
    # The printed way to read the webhook's status_url (which answers 401 without the API key) works.
    follow = next(line for line in banner.follow_lines(base, None, LEADCHAIN) if "<status_url>" in line)
    status = follow.split(": ", 1)[1].replace("<status_url>", answers["webhook"]["status_url"])
    done = subprocess.run(["bash", "-c", status], env=shell, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert json.loads(done.stdout)["submission_id"] == answers["webhook"]["submission_id"], done.stdout + done.stderr

    # The same signed request sent again is a redelivery (webhook-id), and a tampered body is a 401.
    config = subprocess.run(
        ["bash", "-c", webhook.split(" | ")[0]], env=shell, cwd=REPO, capture_output=True, text=True, timeout=60
    ).stdout
    tampered = config.replace("Musterfrau", "Musterfrau2")
    refused = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-K", "-"],
        input=tampered,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.stdout == "401"


def test_the_banner_says_where_a_posted_lead_shows_up_and_those_pages_answer(tmp_path):
    """The calls and the mailbox lines point at pages the sandbox really serves (at the launcher's own
    sandbox address), so a newcomer does not have to guess where the call and the email went."""
    from sandbox.app import create_sandbox_app
    from workers.launcher import local_services

    services = [(s.name, s.url) for s in local_services("127.0.0.1", 5000, tmp_path) if s.url]
    text = banner.render(
        services=services,
        base_url="http://127.0.0.1:5000/",
        secrets_file=None,
        leadchain="leadchain",
        var_dir_override=None,
        policy=GatePolicy.from_env({}),
        now_utc=SUNDAY_NOON,
    )
    sandbox_url = next(url.split()[0] for name, url in services if name == "sandbox")
    origin = sandbox_url.split("/sandbox/")[0]
    lines = {line.split()[0]: line.split()[1] for line in text.splitlines() if line.startswith("  ") and line.split()}
    assert lines["lead"] == "pages" and "http://127.0.0.1:5000/leads" in text
    client = create_sandbox_app().test_client()
    for name in ("calls", "mailbox"):
        assert lines[name].startswith(origin + "/"), (name, lines[name])
        page = client.get(lines[name][len(origin) :])
        assert page.status_code == 200 and page.mimetype == "text/html", (name, page.status_code)
    assert "status_url needs the API key" in text and "local-api-key" in text
    # Without a sandbox among the services there is nothing to point at.
    assert "mailbox" not in banner.render(
        services=[],
        base_url="http://127.0.0.1:5000/",
        secrets_file=None,
        leadchain="leadchain",
        var_dir_override=None,
        policy=GatePolicy.from_env({}),
        now_utc=SUNDAY_NOON,
    )


def test_the_logins_are_one_column_however_long_the_addresses():
    """Two companies' addresses (up to sales.muenchen@autohaus-berger.local) ran into their roles."""
    text = render(SUNDAY_NOON)
    rows = [line for line in text.splitlines() if any(line.startswith(f"  {email} ") for email, *_ in USERS)]
    assert len(rows) == len(USERS)
    starts = {line.rindex(" ") for line in rows}  # where each row's role begins
    assert len(starts) == 1, rows
    for line, (email, _name, role, _lang) in zip(rows, USERS, strict=True):
        assert line.split() == [email, role.value]
