"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium, installed by
scripts/system-deps.sh; never a downloaded browser) against the CRM served over real HTTP on loopback.

Fixtures (one browser and one server per session; the demo data is seeded once and shared, so a test
that changes data uses the leads meant for it):

* ``live_server`` -- the app on a migrated SQLite file, served by werkzeug in a thread:
  ``live_server.url``, ``live_server.app``. Temporal points at a closed port unless ``running_chain`` is used.
* ``demo`` -- the seeded ``Demo``: ``demo.users[role]`` (roles "sales", "sales_b", "manager", "admin";
  each a tests.ui.conftest.Member with ``.email``/``.password``), ``demo.leads[name]`` (ids; see
  ``seed_demo`` for what each has: "weber" with calls, a transcript, emails, tasks and a flagged
  duplicate "weber_dup"; "schneider" ringing now; "williams" waiting for calling hours; "miller" with a
  failed call; "hoffmann" for do-not-contact; "braun" for adding tasks; ...), ``demo.tasks[name]``,
  ``demo.report_id`` (a stored daily report with real German and English PDFs).
* ``browser`` -- the Chromium instance (headless; FAILS with a clear message when Chromium is missing).
* ``open_page(role=None, viewport="laptop"|"phone", lang=None, fresh_login=False)`` -- a new context and
  page (base_url set, downloads accepted), signed in as `role` (the login is done once per role through
  the form and its cookies reused; ``fresh_login=True`` signs in again through the form). Contexts close
  at the end of the test.
* ``login(page, role, demo)`` -- sign in through the form, as a user would.
* ``screenshot(page, name)`` -- a full-page PNG in artifacts/screenshots/<name>.png; returns the path.
* ``chain_lead`` -- a factory ``chain_lead(outcomes, stages, owner=None)``: like ``running_chain`` with
  the calls' outcomes chosen (``[("no_answer", None), ("completed", "booked")]``) and the stages to wait for.
* ``running_chain`` -- a factory ``running_chain(owner="sales")`` -> ``RunningChain(lead_id, chain_id)``:
  a new lead posted through the signed webhook whose chain runs on the Temporal dev server (chain and
  provider workers with a fake voice provider, in a thread) and waits in ``waiting_for_retry`` for an
  hour, so it can be paused and resumed from the lead page. The live server's Temporal then is the dev
  server.

Browser tests are sync (Playwright's sync API); they must not use asyncio fixtures such as
``temporal_env`` (Playwright holds the main thread's event loop while the browser is open): the
running chain lives on its own thread and dev server for that reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from crm import create_app
from crm.config import Settings
from crm.extensions import db
from tests.conftest import _migrate, make_test_secrets, set_settings
from tests.sandbox_fixtures import ServerThread, free_port
from tests.ui.browser.deals_seed import seed_deals
from tests.ui.conftest import PASSWORD, Member

CHROMIUM = os.environ.get("LEADCHAIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
VIEWPORTS = {"laptop": {"width": 1366, "height": 800}, "phone": {"width": 375, "height": 812}}
ROLES = {
    "sales": ("sven.sales@example.test", "Sven Sales", "sales", "de"),
    "sales_b": ("sarah.sales@example.test", "Sarah Sales", "sales", "en"),
    "manager": ("maria.manager@example.test", "Maria Manager", "manager", "de"),
    "admin": ("arne.admin@example.test", "Arne Admin", "admin", "de"),
}


@dataclass(frozen=True)
class Demo:
    users: dict[str, Member]
    leads: dict[str, int]
    tasks: dict[str, int]
    report_id: int
    appointments: dict[str, int]  # lead key -> its appointment (koch's: Sarah's; weber's: Sven's)
    privacy_request_id: int  # an open export request for hoffmann
    deals: dict[str, int] = dataclasses.field(default_factory=dict)  # tests/ui/browser/deals_seed.py


# ------------------------------------------------------------------------------------ app and data


@pytest.fixture(scope="session")
def browser_app(sqlite_dir):
    from tests.workflows.conftest import always_open_policy

    url = f"sqlite:///{sqlite_dir / 'browser.db'}"  # tests/conftest.py sqlite_dir: on tmpfs
    _migrate(url)
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url},
        settings=Settings(temporal_address=f"127.0.0.1:{free_port()}"),  # nothing there until running_chain
        secrets=make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex),
        gate_policy=always_open_policy(),
    )
    set_settings(app, "reports", kpi_cache_s=5)
    return app


@pytest.fixture(scope="session")
def demo(browser_app) -> Demo:
    from crm.tenancy.context import company_scope

    # Session-scoped, so outside each test's default company scope: the demo is the migration's first company.
    with browser_app.app_context(), company_scope(1):
        demo = seed_demo()
        db.session.remove()
    return demo


@pytest.fixture(scope="session")
def live_server(browser_app, demo):
    with ServerThread(browser_app) as server:
        server.app = browser_app
        yield server


def seed_demo(now: datetime | None = None) -> Demo:
    """Users of every role, leads with calls, transcripts, emails, tasks, chain stages and a duplicate,
    a month of call history for the charts, and a stored report with real PDFs (inside an app context)."""
    import random

    from crm.models import (
        Appointment,
        AuditEntry,
        Direction,
        Interaction,
        InteractionKind,
        Lead,
        PossibleDuplicate,
        Priority,
        Role,
        Task,
    )
    from crm.reports import store
    from crm.reports.periods import daily, local_date
    from tests.ui.conftest import make_user

    now = now or datetime.now(UTC)
    users = {}
    for key, (email, name, role, lang) in ROLES.items():
        u = make_user(email, name, Role(role), language=lang)
        users[key] = Member(u.id, email, PASSWORD, u.role, name)
    sven, sarah = users["sales"].id, users["sales_b"].id
    refs = iter(range(1, 1_000_000))

    def lead(
        key,
        first,
        last,
        *,
        owner,
        company=None,
        score=None,
        priority=None,
        stage=None,
        language="de",
        phone=None,
        email=None,
        source="website",
        created=None,
        utm=None,
        interest=None,
    ):
        row = Lead(
            first_name=first,
            last_name=last,
            company=company,
            owner_id=owner,
            score=score,
            priority=priority,
            chain_stage=stage,
            language=language,
            source=source,
            utm_campaign=utm,
            interest=interest,
            phone_e164=phone,
            phone_status="valid" if phone else "unknown",
            email=email or f"{first.lower()}.{last.lower()}@demo.example".replace("ü", "ue"),
            email_key=(email or f"{first.lower()}.{last.lower()}@demo.example").replace("ü", "ue"),
            email_status="valid",
            created_at=created or now - timedelta(hours=3),
        )
        db.session.add(row)
        db.session.flush()
        return row

    def call(
        row,
        at,
        outcome=None,
        *,
        status="ended",
        end_status=None,
        duration=None,
        sentiment=None,
        cost=None,
        summary=None,
        transcript=None,
        provider="retell",
        answered=None,
    ):
        data = {"end_status": end_status or outcome} if (end_status or outcome) else {"stage": status}
        if answered is not None:
            data["answered"] = answered
        i = Interaction(
            lead_id=row.id,
            kind=InteractionKind.CALL,
            direction=Direction.OUTBOUND,
            provider=provider,
            provider_ref=f"demo-call-{next(refs)}",
            status=status,
            started_at=at,
            created_at=at,
            ended_at=at + timedelta(seconds=duration or 0) if status == "ended" else None,
            outcome=outcome,
            duration_s=duration,
            sentiment=sentiment,
            cost_cents=cost,
            currency="EUR" if cost is not None else None,
            summary=summary,
            transcript=transcript,
            data=data,
            created_by="chain",
        )
        db.session.add(i)
        return i

    def email(row, at, status, subject):
        db.session.add(
            Interaction(
                lead_id=row.id,
                kind=InteractionKind.EMAIL,
                direction=Direction.OUTBOUND,
                provider="sendgrid",
                provider_ref=f"demo-msg-{next(refs)}",
                status=status,
                started_at=at,
                created_at=at,
                subject=subject,
                data={},
            )
        )

    def chain(row, *steps):
        for at, stage, detail in steps:
            db.session.add(
                AuditEntry(
                    actor="chain",
                    action=f"chain.{stage}",
                    entity_type="lead",
                    entity_id=row.id,
                    at=at,
                    after={"chain_id": None, "detail": detail},
                )
            )

    h = timedelta(hours=1)
    weber = lead(
        "weber",
        "Jürgen",
        "Weber",
        owner=sven,
        company="Kfz-Werkstatt Krause GmbH",
        score=82,
        priority=Priority.HOT,
        stage="waiting_for_retry",
        phone="+493023125101",
        email="juergen.weber@demo-krause.example",
        utm="herbst",
        interest="Angebot für 5 Standorte",
        created=now - timedelta(days=1, hours=2),
    )
    call(
        weber,
        now - timedelta(days=1),
        "interested",
        end_status="completed",
        duration=184,
        sentiment="positive",
        cost=42,
        answered=True,
        summary="Interessiert an einem Angebot für fünf Standorte; Rückruf mit Preisen erbeten.",
        transcript=[
            {
                "speaker": "agent",
                "text": "Guten Tag Herr Weber, hier ist der digitale Assistent von Leadchain.",
                "at_s": 0.5,
            },
            {"speaker": "callee", "text": "Ja, hallo. Es geht um das Angebot für unsere Werkstätten?", "at_s": 4.2},
            {"speaker": "agent", "text": "Genau. Für wie viele Standorte suchen Sie eine Lösung?", "at_s": 8.0},
            {"speaker": "callee", "text": "Fünf Standorte, am liebsten ab dem nächsten Quartal.", "at_s": 12.6},
            {"speaker": "agent", "text": "Danke! Ein Berater ruft Sie mit den Preisen zurück.", "at_s": 17.1},
        ],
    )
    call(weber, now - 2 * h, "no_answer", duration=0, cost=3, answered=False)
    email(weber, now - timedelta(days=1) + h, "opened", "follow_up")
    chain(
        weber,
        (now - timedelta(days=1, hours=2), "qualifying", "new lead"),
        (now - timedelta(days=1, minutes=5), "calling", "attempt 1"),
        (now - timedelta(hours=2, minutes=1), "calling", "attempt 2"),
        (now - timedelta(hours=2) + timedelta(minutes=1), "waiting_for_retry", "call"),
    )
    weber_dup = lead(
        "weber_dup",
        "Juergen",
        "Weber",
        owner=sven,
        company="Kfz Werkstatt Krause",
        score=60,
        priority=Priority.WARM,
        email="j.weber@krause-kfz.example",
        source="csv",
        created=now - timedelta(hours=5),
    )
    db.session.add(
        PossibleDuplicate(lead_id=weber_dup.id, candidate_id=weber.id, similarity=0.92, reason="name and company match")
    )
    schneider = lead(
        "schneider",
        "Anna",
        "Schneider",
        owner=sven,
        company="Praxis Dr. Weber",
        score=64,
        priority=Priority.WARM,
        stage="calling",
        phone="+493023125102",
        created=now - 4 * h,
    )
    call(schneider, now - timedelta(minutes=2), status="in_progress", provider="vapi")
    williams = lead(
        "williams",
        "Mary",
        "Williams",
        owner=None,
        company="Umbrella Co",
        score=71,
        priority=Priority.HOT,
        stage="waiting_for_window",
        phone="+14155550101",
        language="en",
        utm="retargeting",
        created=now - 6 * h,
    )
    db.session.add(
        AuditEntry(
            actor="system:call-gate",
            action="call.refused",
            entity_type="lead",
            entity_id=williams.id,
            at=now - 5 * h,
            after={"reason": "outside_hours", "next_window_start": (now + timedelta(hours=9)).isoformat()},
        )
    )
    fischer = lead(
        "fischer",
        "Thomas",
        "Fischer",
        owner=sarah,
        score=35,
        priority=Priority.COLD,
        stage="nurturing",
        email="thomas.fischer.demo@demo.example",
        created=now - timedelta(days=2),
    )
    email(fischer, now - timedelta(days=2) + h, "delivered", "nurture")
    koch = lead(
        "koch",
        "Sophie",
        "Koch",
        owner=sarah,
        company="Steuerkanzlei Lange & Partner",
        score=90,
        priority=Priority.HOT,
        stage="booked",
        phone="+498999998194",
        interest="Demo gewünscht",
        created=now - timedelta(hours=8),
    )
    call(
        koch,
        now - 7 * h,
        "booked",
        end_status="completed",
        duration=240,
        sentiment="positive",
        cost=55,
        answered=True,
        provider="bland",
        summary="Demo-Termin für Donnerstag 10 Uhr gebucht.",
        transcript=[
            {"speaker": "agent", "text": "Darf ich Ihnen einen Termin für eine Demo anbieten?"},
            {"speaker": "callee", "text": "Gern, Donnerstag um zehn passt."},
        ],
    )
    koch_appointment = Appointment(
        lead_id=koch.id,
        owner_id=sarah,
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=2, minutes=30),
        title="Demo Steuerkanzlei Lange",
    )
    db.session.add(koch_appointment)
    # Sven's own lead has one too, so every role's appointment page is a page of a lead it may open.
    weber_appointment = Appointment(
        lead_id=weber.id,
        owner_id=sven,
        starts_at=now + timedelta(days=3),
        ends_at=now + timedelta(days=3, minutes=30),
        title="Beratung Weber",
    )
    db.session.add(weber_appointment)
    miller = lead(
        "miller",
        "James",
        "Miller",
        owner=None,
        company="Acme Corp",
        score=58,
        priority=Priority.WARM,
        stage="waiting_for_retry",
        phone="+12125550140",
        language="en",
        created=now - timedelta(days=1),
    )
    call(miller, now - 20 * h, "failed", duration=0, provider="retell", summary="Carrier rejected the call.")
    chain(miller, (now - 3 * h, "waiting_for_retry", "call"))
    hoffmann = lead(
        "hoffmann",
        "Lena",
        "Hoffmann",
        owner=sven,
        company="Hoffmann Bau",
        score=55,
        stage="nurturing",
        phone="+493023125110",
        created=now - timedelta(days=3),
    )
    braun = lead(
        "braun",
        "Petra",
        "Braun",
        owner=sven,
        company="Braun Logistik",
        score=47,
        priority=Priority.COLD,
        created=now - timedelta(days=4),
    )
    leads = {
        "weber": weber,
        "weber_dup": weber_dup,
        "schneider": schneider,
        "williams": williams,
        "fischer": fischer,
        "koch": koch,
        "miller": miller,
        "hoffmann": hoffmann,
        "braun": braun,
    }

    # A month of history for the trend and hour charts (fixed seed: the same pictures every run).
    rnd = random.Random(8)
    outcomes = ["no_answer", "voicemail", "interested", "not_interested", "booked", "callback_requested", "busy"]
    for day in range(1, 31):
        for n in range(rnd.randint(1, 4)):
            at = (now - timedelta(days=day)).replace(hour=rnd.randint(7, 16), minute=rnd.randint(0, 59))
            row = lead(
                f"history-{day}-{n}",
                rnd.choice(["Max", "Lea", "Jonas", "Mia", "Paul", "Emma"]),
                f"Muster{day}{n}",
                owner=rnd.choice([sven, sarah, None]),
                score=rnd.randint(20, 95),
                source=rnd.choice(["website", "partner", "csv"]),
                created=at - h,
                email=f"history{day}.{n}@demo.example",
            )
            outcome = rnd.choice(outcomes)
            talked = outcome in ("interested", "not_interested", "booked", "callback_requested")
            call(
                row,
                at,
                outcome,
                duration=rnd.randint(40, 300) if talked else 0,
                answered=talked,
                sentiment=rnd.choice(["positive", "neutral", "negative"]) if talked else None,
                cost=rnd.randint(5, 60),
            )
            email(row, at + h, rnd.choice(["delivered", "opened", "clicked", "bounced"]), "follow_up")
    # Today's calls so far (before `now`), so the daily dashboard has figures.
    for n in range(6):
        at = now - timedelta(minutes=20 + 25 * n)
        row = lead(
            f"today-{n}",
            ["Nina", "Tim", "Ole", "Ida", "Jan", "Eva"][n],
            f"Heute{n}",
            owner=[sven, sarah, None][n % 3],
            score=40 + 9 * n,
            created=at - timedelta(minutes=10),
            email=f"today{n}@demo.example",
        )
        call(
            row,
            at,
            outcomes[n],
            duration=120 if n in (2, 3, 4, 5) else 0,
            answered=n in (2, 3, 4, 5),
            sentiment="positive" if n % 2 else "neutral",
            cost=20 + n,
        )

    tasks = {
        "callback": Task(
            lead_id=weber.id,
            owner_id=sven,
            kind="callback",
            title="Rückruf mit Preisen",
            details="Angebot für 5 Standorte vorbereiten",
            due_at=now + 2 * h,
        ),
        "overdue": Task(
            lead_id=hoffmann.id,
            owner_id=sven,
            kind="todo",
            title="Unterlagen nachfassen",
            due_at=now - timedelta(days=1),
        ),
        "keyboard": Task(
            lead_id=braun.id, owner_id=sven, kind="todo", title="Lieferadresse bestätigen", due_at=now + 3 * h
        ),
        "later": Task(
            lead_id=schneider.id, owner_id=sven, kind="todo", title="Termin vorschlagen", due_at=now + timedelta(days=3)
        ),
        "sarah": Task(
            lead_id=koch.id, owner_id=sarah, kind="prepare", title="Demo vorbereiten", due_at=now + timedelta(days=1)
        ),
    }
    db.session.add_all(tasks.values())
    db.session.commit()

    stored = store.build(daily(local_date(now) - timedelta(days=1)), ["de", "en"], created_by="demo")
    # An export request for Hoffmann's data (crm.privacy), for the privacy pages; opened, not started.
    from crm.privacy import requests as privacy_requests

    privacy = privacy_requests.open_request(
        "export",
        [leads["hoffmann"].id],
        requester="subject",
        received_via="email",
        identity_check="replied from the address on file",
        actor="demo",
    )
    db.session.commit()
    return Demo(
        users=users,
        leads={k: v.id for k, v in leads.items()},
        tasks={k: v.id for k, v in tasks.items()},
        report_id=stored.report_id,
        appointments={"koch": koch_appointment.id, "weber": weber_appointment.id},
        privacy_request_id=privacy.id,
        deals=seed_deals(leads, users),
    )


# ----------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="package")
def browser():
    # Package scope: sync Playwright marks its event loop as running on the main thread while it is
    # started, which would stop every later asyncio test of the session; it stops when this package ends.
    if not Path(CHROMIUM).is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}. Install Debian's chromium package with "
            "`bash scripts/system-deps.sh` (the browser tests never download a browser).",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    except Exception as e:  # noqa: BLE001 - say which browser failed and why
        pw.stop()
        pytest.fail(f"Chromium at {CHROMIUM} did not start: {e}", pytrace=False)
    yield instance
    instance.close()
    pw.stop()


def login(page, role: str, demo: Demo) -> None:
    """Sign in through the form, as a user would (the page's base_url is the live server)."""
    member = demo.users[role]
    page.goto("/login")
    page.fill("#email", member.email)
    page.fill("#password", member.password)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    if "/login" in page.url:
        raise AssertionError(f"sign-in as {role} failed: {page.url}")


@pytest.fixture(scope="package")
def _signed_in_states() -> dict[str, dict]:
    return {}


@pytest.fixture
def open_page(browser, live_server, demo, _signed_in_states):
    contexts = []

    def open_(role: str | None = None, *, viewport: str = "laptop", lang: str | None = None, fresh_login: bool = False):
        options = dict(
            viewport=VIEWPORTS[viewport],
            base_url=live_server.url,
            accept_downloads=True,
            reduced_motion="reduce",
            locale={"en": "en-GB"}.get(lang or "", "de-DE"),
        )
        if viewport == "phone":
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        if role and not fresh_login and role in _signed_in_states:
            options["storage_state"] = _signed_in_states[role]
        context = browser.new_context(**options)
        # 30 s: a page over 10 s was seen only on a CI machine with half its CPU stolen by the host.
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        if role and "storage_state" not in options:
            login(page, role, demo)
            if not fresh_login:
                _signed_in_states[role] = context.storage_state()
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot() -> Callable:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    return take


# ----------------------------------------------------------------------------- a running lead chain


@dataclass(frozen=True)
class RunningChain:
    lead_id: int
    chain_id: str


class _BackgroundChainWorkers:
    """A Temporal dev server and tests.workflows.conftest.ChainHarness (chain and provider workers with a
    fake voice provider, the relay) on an event loop of their own thread. Sync Playwright owns the main
    thread's loop, so neither pytest-asyncio fixtures (temporal_env) nor workers can live there, and the
    workers must keep running while the browser clicks."""

    def __init__(self, app) -> None:
        from tests.workflows.conftest import FAST

        self.app = app
        self.settings = dataclasses.replace(FAST, retry_delay_s=3600, max_call_attempts=3)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="browser-chain-workers", daemon=True)
        self.env = None
        self.harness = None

    def _run(self, coro, timeout: float = 90):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start_server(self):
        from temporalio.contrib.pydantic import pydantic_data_converter
        from temporalio.testing import WorkflowEnvironment

        from crm.tenancy.temporal_headers import CompanyInterceptor
        from tests.temporal_fixtures import binary
        from workflows.lead_chain import LEAD_STAGE
        from workflows.payloads import COMPANY_ID

        return await WorkflowEnvironment.start_local(
            dev_server_existing_path=binary("temporal"),
            search_attributes=[LEAD_STAGE, COMPANY_ID],
            data_converter=pydantic_data_converter,
            # As tests/temporal_fixtures.py and production: starts carry the company, activities bind it.
            interceptors=[CompanyInterceptor()],
            dev_server_startup_timeout=timedelta(seconds=60),
        )

    def start(self) -> _BackgroundChainWorkers:
        from tests.workflows.conftest import ChainHarness

        self.thread.start()
        self.env = self._run(self._start_server())
        self.address = self.env.client.service_client.config.target_host
        self.harness = ChainHarness(self.app, self.env.client, self.settings)
        self._run(self.harness.start())
        return self

    def stop(self) -> None:
        try:
            if self.harness is not None:
                self._run(self.harness.stop())
            if self.env is not None:
                self._run(self.env.shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@pytest.fixture(scope="session")
def _chain_workers(live_server):
    from tests.fakes import Script

    app = live_server.app
    workers = _BackgroundChainWorkers(app)
    try:
        workers.start()
    except Exception:
        workers.stop()
        raise
    set_settings(app, temporal_address=workers.address)
    app.extensions.pop("leadchain.temporal", None)  # the gateway reconnects to the dev server
    workers.script = Script([("no_answer", None)] * 5)
    yield workers
    workers.stop()


@pytest.fixture
def running_chain(_chain_workers, live_server, demo):
    """A factory: running_chain(owner="sales") -> RunningChain waiting in waiting_for_retry (1 h)."""
    return _chain_factory(_chain_workers, live_server, demo)


@pytest.fixture(scope="session")
def chain_lead(_chain_workers, live_server, demo):
    """A factory: chain_lead(outcomes, stages, owner=None) -> RunningChain of a new lead whose calls go as
    `outcomes` ((status, classification) per attempt, tests.fakes.Script) once its chain reached one of
    `stages` (e.g. {"waiting_for_retry"}, {"booked", "handed_over"})."""
    from tests.fakes import Script

    def start(
        outcomes: list[tuple[str, str | None]], stages: set[str], owner: str | None = None, timeout: float = 45
    ) -> RunningChain:
        return _chain_factory(_chain_workers, live_server, demo, script=Script(list(outcomes)), stages=set(stages))(
            owner=owner, timeout=timeout
        )

    return start


def _chain_factory(_chain_workers, live_server, demo, script=None, stages=frozenset({"waiting_for_retry"})):
    from crm.models import Lead

    counter = iter(range(1, 1000))

    def start(owner: str | None = "sales", timeout: float = 45) -> RunningChain:
        n = next(counter)
        suffix = uuid.uuid4().hex[:6]
        phone = f"+4930231{int(suffix, 16) % 100000:05d}"
        _chain_workers.harness.provider.scripts[phone] = script or _chain_workers.script
        accepted = _chain_workers.harness.post_lead(
            {
                "first_name": "Kette",
                "last_name": f"Test{n}{suffix}",
                "company": f"Ketten GmbH {suffix}",
                "email": f"kette.{suffix}@demo.example",
                "phone": phone,
                "phone_consent": "ja",
                "interest": "Angebot für 5 Standorte",
            }
        )
        chain_id = accepted["chain_id"]
        deadline = time.monotonic() + timeout
        from crm.tenancy.context import company_scope

        # Also called from module- and session-scoped fixtures, outside each test's default scope: the demo's
        # leads are the first company's.
        with live_server.app.app_context(), company_scope(1):
            while True:
                lead = db.session.query(Lead).filter(Lead.chain_id == chain_id).one_or_none()
                if lead is not None and lead.chain_stage in stages:
                    if owner:
                        lead.owner_id = demo.users[owner].id
                        db.session.commit()
                    result = RunningChain(lead.id, chain_id)
                    db.session.remove()
                    return result
                db.session.rollback()
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"the chain {chain_id} never reached {sorted(stages)} "
                        f"(stage {lead.chain_stage if lead else 'no lead yet'})"
                    )
                time.sleep(0.2)

    return start


def local_today() -> date:
    from crm.reports.periods import local_date

    return local_date(datetime.now(UTC))
