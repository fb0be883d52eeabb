"""50 callers want the same slot of the same rep at the same moment: exactly one gets it.

Each attempt runs in its own thread, app context and database session, all released together by a
barrier; the leads are distinct so nothing but the appointment constraint (exclusion constraint on
PostgreSQL, triggers on SQLite) serialises them."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Appointment, AuditEntry, Lead, LeadStatus, Role, User
from voice.bridge import booking

N = 50
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2030, 12, 16, 8, 0, tzinfo=BERLIN)
START = datetime(2030, 12, 19, 14, 30, tzinfo=BERLIN)


def test_fifty_concurrent_bookings_of_one_slot_one_wins(app):
    with app.app_context():
        rep = User(email="anna@leadchain.example", name="Anna", role=Role.SALES)
        db.session.add(rep)
        db.session.flush()
        leads = [Lead(first_name=f"Caller{i}", source="website", phone_e164=f"+4930231251{i:02d}", owner_id=rep.id)
                 for i in range(N)]
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
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "appointment.booked")) == 1
