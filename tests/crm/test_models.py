"""The schema as the migrations build it, on SQLite and PostgreSQL: constraints hold in the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
import sqlalchemy as sa

from crm import create_app
from crm.extensions import db
from crm.models import (
    Appointment,
    AppointmentStatus,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    Role,
    User,
    WebhookDelivery,
)
from tests.conftest import make_test_secrets, pg_url

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _owner(email="rep@example.com") -> User:
    user = User(email=email, name="Rep", role=Role.SALES)
    db.session.add(user)
    db.session.flush()
    return user


def _appt(owner, start_h, end_h, status=AppointmentStatus.CONFIRMED):
    return Appointment(
        owner_id=owner.id,
        starts_at=T0 + timedelta(hours=start_h),
        ends_at=T0 + timedelta(hours=end_h),
        status=status,
        title="demo",
    )


def test_confirmed_appointments_of_one_owner_cannot_overlap(ctx):
    owner, other = _owner(), _owner("other@example.com")
    db.session.add(_appt(owner, 0, 1))
    db.session.commit()
    # Touching ends are fine, other owners are fine, cancelled ones do not block.
    db.session.add_all([_appt(owner, 1, 2), _appt(other, 0, 1), _appt(owner, 0, 1, AppointmentStatus.CANCELLED)])
    db.session.commit()
    db.session.add(_appt(owner, 0.5, 1.5))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 4


def test_overlap_also_refused_on_update(ctx):
    owner = _owner()
    a, b = _appt(owner, 0, 1), _appt(owner, 2, 3, AppointmentStatus.TENTATIVE)
    db.session.add_all([a, b])
    db.session.commit()
    b.starts_at = T0 + timedelta(minutes=30)
    b.status = AppointmentStatus.CONFIRMED
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_appointment_must_have_positive_length(ctx):
    owner = _owner()
    db.session.add(_appt(owner, 2, 1))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_provider_reference_unique_per_provider(ctx):
    lead = Lead(source="t", email="a@b.de", email_key="a@b.de", tags=[])
    db.session.add(lead)
    db.session.flush()
    for provider in ("retell", "vapi"):
        db.session.add(
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider=provider,
                provider_ref="call_1",
            )
        )
    db.session.commit()
    db.session.add(
        Interaction(
            lead_id=lead.id,
            kind=InteractionKind.CALL,
            direction=Direction.OUTBOUND,
            provider="retell",
            provider_ref="call_1",
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_delivery_key_unique_per_source(ctx):
    db.session.add_all(
        [
            WebhookDelivery(source="leads:web", delivery_key="k", payload_hash="x"),
            WebhookDelivery(source="leads:partner", delivery_key="k", payload_hash="x"),
        ]
    )
    db.session.commit()
    db.session.add(WebhookDelivery(source="leads:web", delivery_key="k", payload_hash="y"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_one_live_record_per_email_key_and_phone(ctx):
    first = Lead(source="t", email_key="a@b.de", phone_e164="+493023125101", tags=[])
    db.session.add(first)
    db.session.commit()
    db.session.add(Lead(source="t", email_key="a@b.de", tags=[]))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(Lead(source="t", phone_e164="+493023125101", tags=[]))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
    # A merged (retired) record no longer holds its keys.
    survivor = Lead(source="t", email_key="c@d.de", tags=[])
    db.session.add(survivor)
    db.session.flush()
    first = db.session.get(Lead, first.id)
    first.merged_into_id = survivor.id
    db.session.commit()
    db.session.add(Lead(source="t", email_key="a@b.de", phone_e164="+493023125101", tags=[]))
    db.session.commit()


def test_score_and_language_checked_by_database(ctx):
    db.session.add(Lead(source="t", email_key="s@b.de", score=101, tags=[]))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(Lead(source="t", email_key="l@b.de", language="it", tags=[]))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(Lead(source="t", email_key="fr@b.de", language="fr", tags=[]))  # French is a language (0011)
    db.session.commit()


def test_timestamps_come_back_as_utc(ctx):
    berlin = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    lead = Lead(source="t", email_key="tz@b.de", source_created_at=berlin, tags=["a"])
    db.session.add(lead)
    db.session.commit()
    db.session.expire_all()
    loaded = db.session.get(Lead, lead.id)
    assert loaded.source_created_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert loaded.source_created_at.tzinfo is not None
    assert loaded.created_at.tzinfo is not None
    assert loaded.tags == ["a"]


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from crm import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS_DIR)
    return ScriptDirectory.from_config(cfg).get_current_head()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migrations_build_and_remove_the_schema_on_an_empty_database(kind, tmp_path, pg_admin_url):
    from flask_migrate import downgrade, upgrade

    admin = None
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        name = f"leadchain_mig_{uuid.uuid4().hex[:8]}"
        admin = psycopg.connect(pg_admin_url, autocommit=True)
        admin.execute(f'CREATE DATABASE "{name}"')
        url = pg_url(pg_admin_url, name)
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url}, secrets=make_test_secrets())
        with app.app_context():
            assert sa.inspect(db.engine).get_table_names() == []
            upgrade()
            tables = set(sa.inspect(db.engine).get_table_names())
            assert set(db.metadata.tables) <= tables
            with db.engine.connect() as conn:
                assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == _head()
                if kind == "postgresql":
                    assert (
                        conn.execute(
                            sa.text(
                                "SELECT count(*) FROM pg_constraint WHERE conname = 'ex_appointments_owner_overlap'"
                            )
                        ).scalar()
                        == 1
                    )
                else:
                    assert (
                        conn.execute(
                            sa.text(
                                "SELECT count(*) FROM sqlite_master"
                                " WHERE type='trigger' AND name LIKE 'appointments_no_overlap%'"
                            )
                        ).scalar()
                        == 2
                    )
            downgrade(revision="base")
            assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()
            assert set(db.metadata.tables) <= set(sa.inspect(db.engine).get_table_names())
            db.engine.dispose()
    finally:
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


def test_models_match_the_migrations(app):
    """A model change without a migration fails here (autogenerate finds no difference)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []
