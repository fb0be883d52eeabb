"""50 callers want the same slot of the same rep at the same moment: exactly one gets it.

Each attempt runs in its own thread, app context and database session, all released together by a
barrier; the leads are distinct so nothing but the appointment constraint (exclusion constraint on
PostgreSQL, triggers on SQLite) serialises them."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from crm import create_app
from crm.extensions import db
from crm.models import Appointment, AuditEntry, Lead, LeadStatus, Role, User
from voice.bridge import booking

N = 50
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2030, 12, 16, 8, 0, tzinfo=BERLIN)
START = datetime(2030, 12, 19, 14, 30, tzinfo=BERLIN)


@pytest.fixture
def app(backend, migrated_urls, monkeypatch):
    """The app with a connection pool that holds all N transactions at once.

    The default pool (10 + 10 overflow, 1 s wait) serves the bridge, whose CRM executor runs at most 16
    bookings at a time (test_bridge_threads_fit_the_pool). Here 50 transactions must be in flight together,
    or the constraint would never see 50 racing inserts: with 20 connections the other 30 wait, and on a
    loaded machine past the 1 s pool wait (CI, stop 26)."""
    from crm.tenancy.testing_fallback import CONFIG_KEY
    from tests.conftest import TEST_COMPANY_ID, _wipe, make_test_secrets

    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls[backend], CONFIG_KEY: TEST_COMPANY_ID}
    if backend == "postgresql":
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_size": N, "max_overflow": 0, "pool_timeout": 30}
        # 50 new connections at once: on a loaded CI machine some took over the default 1 s to connect.
        monkeypatch.setenv("LEADCHAIN_DB_CONNECT_TIMEOUT_S", "10")
    app = create_app(config, secrets=make_test_secrets())
    _wipe(app)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    _wipe(app)


def test_bridge_threads_fit_the_pool():
    """The bridge never asks for more connections than the default pool keeps open: a thread past it would get
    an overflow connection, opened for one check-out and closed again."""
    import inspect

    from crm import _engine_options
    from crm.config import DatabaseSettings
    from voice.bridge.crm_tools import CrmToolsFactory

    options = _engine_options("postgresql+psycopg://x/y", DatabaseSettings())
    threads = inspect.signature(CrmToolsFactory.__init__).parameters["max_threads"].default
    assert threads <= options["pool_size"]


def test_fifty_concurrent_bookings_of_one_slot_one_wins(app):
    with app.app_context():
        rep = User(email="anna@leadchain.example", name="Anna", role=Role.SALES)
        db.session.add(rep)
        db.session.flush()
        leads = [
            Lead(first_name=f"Caller{i}", source="website", phone_e164=f"+4930231251{i:02d}", owner_id=rep.id)
            for i in range(N)
        ]
        db.session.add_all(leads)
        db.session.commit()
        rep_id, lead_ids = rep.id, [lead.id for lead in leads]
        db.session.remove()

    barrier = threading.Barrier(N, timeout=30)

    def attempt(i: int) -> booking.BookingResult:
        with app.app_context():
            try:
                barrier.wait()
                return booking.book(lead_ids[i], f"call_{i:02d}", START, START + timedelta(minutes=30), now=NOW)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=N) as pool:
        results = list(pool.map(attempt, range(N)))

    statuses = [r.status for r in results]
    assert statuses.count("booked") == 1, statuses
    assert statuses.count("taken") == N - 1, statuses
    winner = next(r for r in results if r.status == "booked")
    assert winner.owner_id == rep_id and winner.appointment_id is not None
    with app.app_context():
        rows = db.session.scalars(sa.select(Appointment)).all()
        assert [a.id for a in rows] == [winner.appointment_id]
        assert rows[0].lead_id == winner.lead_id and rows[0].idempotency_key.startswith(f"{winner.call_id}:")
        booked = db.session.scalars(sa.select(Lead.id).where(Lead.status == LeadStatus.BOOKED)).all()
        assert booked == [winner.lead_id]
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "appointment.booked")
            )
            == 1
        )


def test_a_booking_that_postgresql_picks_as_deadlock_victim_tries_again(migrated_urls, caplog):
    """Force the race the 50-thread test hits only now and then on PostgreSQL: our insert waits on another
    transaction's overlapping row while that transaction waits on ours. PostgreSQL aborts ours (it waited
    first); the booking rolls back its savepoint, tries again and books once the other one is gone.

    The retry can deadlock the other transaction a second time (ours re-inserts the key before the other
    looks again); then the other one waited first and is the victim. Which transaction loses that second
    round is PostgreSQL's timing, not ours: the invariant is that ours lost a race, retried, and booked
    exactly one appointment."""
    import logging

    import psycopg

    from crm import create_app
    from tests.conftest import _wipe, make_test_secrets

    url = migrated_urls["postgresql"]
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url}, secrets=make_test_secrets())
    _wipe(app)
    with app.app_context():
        rep = User(email="anna@leadchain.example", name="Anna", role=Role.SALES)
        db.session.add(rep)
        db.session.flush()
        ours, theirs = (Lead(first_name=n, source="website", owner_id=rep.id) for n in ("Ours", "Theirs"))
        db.session.add_all([ours, theirs])
        db.session.commit()
        rep_id, our_id, their_id = rep.id, ours.id, theirs.id
        db.session.remove()
    key = booking.booking_key("call_ours", START)
    inserted, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    second_round: list[bool] = []

    def other_transaction() -> None:
        try:
            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
                me = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
                # Raw SQL: the ORM does not fill the company, so the test company is named here.
                insert = (
                    "INSERT INTO appointments (company_id, lead_id, owner_id, starts_at, ends_at, status, title, "
                    "idempotency_key, created_at) VALUES (1, %s, %s, %s, %s, 'confirmed', 'x', %s, now())"
                )
                conn.execute(insert, (their_id, rep_id, START, START + timedelta(minutes=30), "theirs"))
                inserted.set()
                for _ in range(200):  # until our booking waits for this transaction's row
                    waiting = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND pid <> %s AND datname = current_database()",
                        (me,),
                    ).fetchone()[0]
                    if waiting:
                        break
                    threading.Event().wait(0.02)
                # Now wait for ours in turn (the same idempotency key, another rep's hour): a deadlock.
                later = START + timedelta(hours=2)
                try:
                    conn.execute(insert, (their_id, rep_id, later, later + timedelta(minutes=30), key))
                except psycopg.errors.DeadlockDetected:
                    # Ours lost the first deadlock and retried at once; when its new row is in the key's index
                    # before this insert looks again, the two deadlock a second time, and this transaction,
                    # now the one that waited first, is the victim. Either way it ends rolled back, as planned.
                    second_round.append(True)
                conn.rollback()
        except BaseException as e:  # noqa: BLE001 - reported to the test below
            errors.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=other_transaction)
    thread.start()
    assert inserted.wait(10)
    try:
        with caplog.at_level(logging.INFO, logger="voice.bridge.booking"), app.app_context():
            result = booking.book(our_id, "call_ours", START, START + timedelta(minutes=30), now=NOW)
            db.session.remove()
        thread.join(30)
        assert not errors, errors
        assert result.status == "booked"
        assert any("lost a lock race (40P01)" in r.getMessage() for r in caplog.records)
        with app.app_context():
            rows = db.session.scalars(sa.select(Appointment)).all()
            assert [(a.lead_id, a.idempotency_key) for a in rows] == [(our_id, key)]
            db.session.remove()
    finally:
        thread.join(30)
        _wipe(app)
