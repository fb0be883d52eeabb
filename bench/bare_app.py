"""Baseline for bench/intake.py: a bare Flask app whose one endpoint only inserts the lead row.

Same table (`leads`, created by leadchain's migrations), same columns and same values leadchain's
intake writes for a new lead, same driver and pool settings as crm.create_app() -- and nothing else:
no signature check, no delivery record, no validation or normalisation, no dedupe queries, no
consent or audit rows. The few derived columns (email_key, phone_e164, match_key) are plain string
operations that give leadchain's result for the benchmark's inputs; region, timezone and phone status
are constants for the same reason.

    DATABASE_URL=... gunicorn 'bench.bare_app:create_app()'
    POST /bare/leads/<source>  {lead JSON}  ->  200 {"lead_id": <id>}
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, jsonify, request
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

# Only the columns a new lead gets from intake; the others stay NULL in both apps.
leads = sa.Table(
    "leads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # Every lead belongs to a company since tenancy (issue 16); the bare app writes the migration's first.
    sa.Column("company_id", sa.Integer),
    sa.Column("first_name", sa.String(100)),
    sa.Column("last_name", sa.String(100)),
    sa.Column("company", sa.String(200)),
    sa.Column("email", sa.String(254)),
    sa.Column("email_key", sa.String(254)),
    sa.Column("email_status", sa.String(16)),
    sa.Column("phone_e164", sa.String(20)),
    sa.Column("phone_region", sa.String(2)),
    sa.Column("phone_timezone", sa.String(64)),
    sa.Column("phone_status", sa.String(16)),
    sa.Column("phone_raw", sa.String(64)),
    sa.Column("language", sa.String(2)),
    sa.Column("source", sa.String(64)),
    sa.Column("utm_source", sa.String(200)),
    sa.Column("utm_medium", sa.String(200)),
    sa.Column("utm_campaign", sa.String(200)),
    sa.Column("utm_term", sa.String(200)),
    sa.Column("utm_content", sa.String(200)),
    sa.Column("interest", sa.Text),
    sa.Column("status", sa.String(32)),
    sa.Column("tags", sa.JSON().with_variant(JSONB(), "postgresql")),
    sa.Column("do_not_contact", sa.Boolean),
    sa.Column("match_key", sa.String(100)),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)

UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def _database_url() -> str:
    # Same driver choice as crm.config.normalise_database_url (psycopg 3 for PostgreSQL).
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _engine(url: str) -> sa.Engine:
    # Same pooling as crm.create_app(), so pooling is not what the benchmark measures. The app pings only a
    # connection that idled past crm.IDLE_PING_S or failed (issue 21), which a pool under load never does:
    # no ping here either.
    if url.startswith("sqlite"):
        return sa.create_engine(url, connect_args={"timeout": 30})
    return sa.create_engine(url, pool_pre_ping=False, pool_size=10, max_overflow=10)


def _row(data: dict[str, Any], source: str, sqlite: bool) -> dict[str, Any]:
    now = datetime.now(UTC)
    if sqlite:  # leadchain's UTCDateTime stores naive UTC on SQLite
        now = now.replace(tzinfo=None)
    email = data.get("email")
    phone = data.get("phone")
    last_name = data.get("last_name")
    return {
        "company_id": 1,
        "first_name": data.get("first_name"),
        "last_name": last_name,
        "company": data.get("company"),
        "email": email,
        "email_key": email.lower() if email else None,
        "email_status": "unknown" if email else "none",
        "phone_e164": "+" + "".join(c for c in phone if c.isdigit()) if phone else None,
        "phone_region": "DE" if phone else None,
        "phone_timezone": "Europe/Berlin" if phone else None,
        "phone_status": "valid" if phone else "unknown",
        "phone_raw": phone.strip()[:64] if phone else None,
        "language": "de",
        "source": source,
        **{k: data.get(k) for k in UTM},
        "interest": data.get("interest"),
        "status": "new",
        "tags": [],
        "do_not_contact": False,
        "match_key": last_name.lower() if last_name else None,
        "created_at": now,
        "updated_at": now,
    }


def create_app() -> Flask:
    url = _database_url()
    engine = _engine(url)
    sqlite = url.startswith("sqlite")
    insert = leads.insert().returning(leads.c.id)
    app = Flask(__name__)

    @app.post("/bare/leads/<source>")
    def insert_lead(source: str):
        data = request.get_json(force=True)
        with engine.begin() as conn:
            lead_id = conn.execute(insert, _row(data, source, sqlite)).scalar_one()
        return jsonify(lead_id=lead_id, outcome="created")

    return app
