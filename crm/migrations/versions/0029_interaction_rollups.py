"""issue 21 (reports in a second): hourly rollups of the outbound calls and emails, kept by triggers, and
indexes for the report's remaining look-ups

`interaction_rollups` holds, per company and UTC hour, the counts the KPI report sums (crm/reports/kpis/fast.py):
one row per kind (dim ''), and for calls one row per lead owner, per campaign (campaign id and utm_campaign),
per provider and per outcome, each split by billing currency. Triggers keep it: on PostgreSQL and SQLite
alike, every insert, update and delete of an interaction subtracts the old row's contribution and adds the
new one's (concurrent writers meet on the row's lock: `ON CONFLICT ... DO UPDATE SET n = n + excluded.n`);
a lead whose owner, campaign or utm_campaign changes moves its calls' owner and campaign rows; a deleted
lead takes its calls' owner and campaign rows with it before the cascade deletes the calls (whose trigger
then finds no lead and leaves those rows alone). Every writer is covered, the ORM's, Core's and raw SQL.

The per-row flags are the report's (crm.reports.kpis.queries) with the chain's outcome sets frozen here (as
0013 froze the policy); tests/reports/test_fast_path.py fails when they drift from workflows/vocabulary.py.
The rollup is company-owned (row-level security on PostgreSQL). Existing rows are summed in at upgrade.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-08 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

# Frozen copies (see the docstring).
POLICY = (
    "company_id = NULLIF(current_setting('leadchain.company_id', true), '')::int"
    " OR current_setting('leadchain.operator', true) = 'on'"
)
ANSWERED_OUTCOMES = ("booked", "interested", "callback_requested", "not_interested", "do_not_call", "wrong_number")
WANTED_OUTCOMES = ("booked", "interested", "callback_requested")
FOLLOW_UP_OUTCOMES = ("interested", "callback_requested")
EMAIL_DELIVERED = ("delivered", "opened", "clicked")
EMAIL_OPENED = ("opened", "clicked")
EMAIL_BOUNCED = ("bounced", "blocked")

KEYS = ("company_id", "hour", "kind", "dim", "key_int", "key_text", "currency")
MEASURES = (
    "n",
    "answered",
    "voicemail",
    "no_answer",
    "busy",
    "failed",
    "wanted",
    "booked",
    "talk_sum",
    "talk_n",
    "sent_positive",
    "sent_neutral",
    "sent_negative",
    "sent_unknown",
    "critical",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "dropped",
    "cost",
    "priced",
)
LEAD_DIMS = ("owner", "campaign")
ALL_DIMS = ("", "provider", "outcome", *LEAD_DIMS)
UPDATE_COLUMNS = (
    "lead_id",
    "company_id",
    "kind",
    "direction",
    "provider",
    "status",
    "started_at",
    "created_at",
    "duration_s",
    "sentiment",
    "outcome",
    "cost_cents",
    "currency",
    "data",
)


def _in(expr: str, values: tuple[str, ...]) -> str:
    return f"{expr} IN ({', '.join(repr(v) for v in values)})"


def _enc(expr: str) -> str:
    """A nullable text as a NOT NULL key: '' for NULL, '=' and the value otherwise."""
    return f"COALESCE('=' || {expr}, '')"


def _contribution(d: str, r: str, sign: int, owner: str, campaign: str, utm: str, dims_from: str, where: str) -> str:
    """INSERT ... SELECT of the rows `r` (an interaction: NEW, OLD or an alias) adds (sign 1) or takes away (-1)."""
    pg = d == "postgresql"
    ts = f"COALESCE({r}.started_at, {r}.created_at)"
    hour = f"floor(extract(epoch FROM {ts}) / 3600)::int" if pg else f"CAST(strftime('%s', {ts}) AS INTEGER) / 3600"
    json_answered = (
        f"leadchain_json_bool({r}.data -> 'answered')"
        if pg
        else f"CAST(JSON_EXTRACT({r}.data, '$.\"answered\"') AS BOOLEAN) = 1"
    )
    end_status = f"({r}.data ->> 'end_status')" if pg else f"JSON_EXTRACT({r}.data, '$.\"end_status\"')"
    answered = f"(({json_answered}) OR {_in(f'{r}.outcome', ANSWERED_OUTCOMES)})"
    es, raw = f"COALESCE({end_status}, '')", f"COALESCE({r}.outcome, '')"
    outcome = f"COALESCE({r}.outcome, {end_status}, 'pending')"
    sentiment = f"COALESCE({r}.sentiment, 'unknown')"

    def status(v: str) -> str:
        return f"({es} = '{v}' OR {raw} = '{v}')"

    # dim '' counts wanted/booked by the stored outcome (the hourly figures), the breakdowns by the outcome
    # with the end status standing in (the call cube's keys).
    wanted_by = f"CASE WHEN d.dim = '' THEN {raw} ELSE {outcome} END"
    flags = {
        "n": "1",
        "answered": answered,
        "voicemail": status("voicemail"),
        "no_answer": status("no_answer"),
        "busy": status("busy"),
        "failed": status("failed"),
        "wanted": _in(wanted_by, WANTED_OUTCOMES),
        "booked": f"{wanted_by} = 'booked'",
        "talk_n": f"({answered} AND {r}.duration_s IS NOT NULL)",
        "sent_positive": f"({answered} AND {sentiment} = 'positive')",
        "sent_neutral": f"({answered} AND {sentiment} = 'neutral')",
        "sent_negative": f"({answered} AND {sentiment} = 'negative')",
        "sent_unknown": f"({answered} AND {sentiment} NOT IN ('positive', 'neutral', 'negative'))",
        "critical": f"({sentiment} = 'negative' OR {raw} = 'do_not_call')",
        "delivered": _in(f"{r}.status", EMAIL_DELIVERED),
        "opened": _in(f"{r}.status", EMAIL_OPENED),
        "clicked": f"{r}.status = 'clicked'",
        "bounced": _in(f"{r}.status", EMAIL_BOUNCED),
        "dropped": f"{r}.status = 'dropped'",
        "priced": f"{r}.cost_cents IS NOT NULL",
    }
    values = {m: f"CASE WHEN {c} THEN {sign} ELSE 0 END" for m, c in flags.items()}
    values["n"] = str(sign)
    values["talk_sum"] = f"CASE WHEN {answered} THEN {sign} * COALESCE({r}.duration_s, 0) ELSE 0 END"
    values["cost"] = f"{sign} * COALESCE({r}.cost_cents, 0)"
    keys = {
        "company_id": f"{r}.company_id",
        "hour": hour,
        "kind": f"{r}.kind",
        "dim": "d.dim",
        "key_int": f"CASE d.dim WHEN 'owner' THEN COALESCE({owner}, 0) WHEN 'campaign' THEN COALESCE({campaign}, 0)"
        " ELSE 0 END",
        "key_text": f"CASE d.dim WHEN 'provider' THEN {_enc(f'{r}.provider')} WHEN 'outcome' THEN {_enc(outcome)}"
        f" WHEN 'campaign' THEN {_enc(utm)} ELSE '' END",
        "currency": f"CASE WHEN d.dim = '' THEN '' ELSE {_enc(f'{r}.currency')} END",
    }
    select = ", ".join([*keys.values(), *(f"SUM({values[m]})" for m in MEASURES)])
    scope = f"{r}.direction = 'outbound' AND ({r}.kind = 'email' AND d.dim = '' OR {r}.kind = 'call')"
    conflict = ", ".join(f"{m} = interaction_rollups.{m} + excluded.{m}" for m in MEASURES)
    return (
        f"INSERT INTO interaction_rollups ({', '.join(KEYS + MEASURES)}) SELECT {select} FROM {dims_from}"
        f" WHERE {scope}{' AND ' + where if where else ''} GROUP BY {', '.join(keys.values())}"
        f" ON CONFLICT ({', '.join(KEYS)}) DO UPDATE SET {conflict}"
    )


def _dims(names: tuple[str, ...]) -> str:
    return "(" + " UNION ALL ".join(f"SELECT '{n}' AS dim" for n in names) + ") d"


def _on_interaction(d: str, r: str, sign: int) -> str:
    """An interaction's whole contribution (`r` "i": every interaction's); its owner and campaign rows only
    while its lead exists."""
    rows = "interactions i CROSS JOIN " if r == "i" else ""
    return _contribution(
        d,
        r,
        sign,
        "l.owner_id",
        "l.campaign_id",
        "l.utm_campaign",
        f"{rows}{_dims(ALL_DIMS)} LEFT JOIN leads l ON l.id = {r}.lead_id",
        "(d.dim NOT IN ('owner', 'campaign') OR l.id IS NOT NULL)",
    )


def _on_lead(d: str, lead: str, sign: int) -> str:
    """The owner and campaign rows of every call of the lead `lead` (OLD or NEW) holds."""
    return _contribution(
        d,
        "i",
        sign,
        f"{lead}.owner_id",
        f"{lead}.campaign_id",
        f"{lead}.utm_campaign",
        f"{_dims(LEAD_DIMS)} CROSS JOIN interactions i",
        f"i.lead_id = {lead}.id",
    )


LEAD_CHANGED = (
    "OLD.owner_id IS NOT NEW.owner_id OR OLD.campaign_id IS NOT NEW.campaign_id"
    " OR OLD.utm_campaign IS NOT NEW.utm_campaign"
)


def _create_table() -> None:
    op.create_table(
        "interaction_rollups",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("key_int", sa.Integer(), nullable=False),
        sa.Column("key_text", sa.String(length=210), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        *[sa.Column(m, sa.BigInteger(), nullable=False, server_default="0") for m in MEASURES],
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_interaction_rollups_company_id_companies")
        ),
        sa.PrimaryKeyConstraint(
            "company_id", "dim", "hour", "kind", "key_int", "key_text", "currency", name=op.f("pk_interaction_rollups")
        ),
    )


# Partial indexes for the look-ups the report still makes on interactions (crm/reports/kpis/fast.py writes
# its WHERE clauses to match): critical calls, follow-up candidates, talk durations; and leads by creation.
CALL_TS = "COALESCE(started_at, created_at)"
INDEXES = (
    (
        "ix_interactions_report_critical",
        "interactions",
        f"company_id, {CALL_TS}",
        "kind = 'call' AND direction = 'outbound' AND (sentiment = 'negative' OR outcome = 'do_not_call')",
    ),
    (
        "ix_interactions_report_follow_up",
        "interactions",
        f"company_id, {CALL_TS}, lead_id, outcome",
        f"kind = 'call' AND direction = 'outbound' AND {_in('outcome', (*FOLLOW_UP_OUTCOMES, 'booked'))}",
    ),
    (
        "ix_interactions_report_talk",
        "interactions",
        f"company_id, {CALL_TS}, duration_s",
        "kind = 'call' AND direction = 'outbound' AND duration_s IS NOT NULL",
    ),
    ("ix_leads_report_created", "leads", "company_id, created_at", "merged_into_id IS NULL"),
)


def upgrade() -> None:
    d = op.get_bind().dialect.name
    _create_table()
    op.create_index(op.f("ix_interaction_rollups_company_id"), "interaction_rollups", ["company_id"], unique=False)
    for name, table, columns, where in INDEXES:
        op.execute(f"CREATE INDEX {name} ON {table} ({columns}) WHERE {where}")
    if d == "postgresql":
        for stmt in (
            "ALTER TABLE interaction_rollups ENABLE ROW LEVEL SECURITY",
            "ALTER TABLE interaction_rollups FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY company_isolation ON interaction_rollups USING ({POLICY}) WITH CHECK ({POLICY})",
        ):
            op.execute(stmt)
        _postgresql_triggers()
    else:
        _sqlite_triggers()
    # Existing interactions: each one's contribution, as the insert trigger adds it (one statement, a minute
    # or so per million interactions: beyond the app's statement timeout).
    if d == "postgresql":
        op.execute("SET LOCAL statement_timeout = 0")
    op.execute(_on_interaction(d, "i", 1))


def _postgresql_triggers() -> None:
    d = "postgresql"
    op.execute("""
        CREATE FUNCTION leadchain_json_bool(value jsonb) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN
            RETURN (value #>> '{}')::boolean;
        EXCEPTION WHEN invalid_text_representation THEN
            RETURN NULL;  -- the report's plain query fails on such a value; a write must not
        END $$""")
    op.execute(f"""
        CREATE FUNCTION interaction_rollups_on_interaction() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN {_on_interaction(d, "OLD", -1)}; END IF;
            IF TG_OP IN ('UPDATE', 'INSERT') THEN {_on_interaction(d, "NEW", 1)}; END IF;
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE FUNCTION interaction_rollups_on_lead() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN {_on_lead(d, "OLD", -1)}; RETURN OLD; END IF;
            {_on_lead(d, "OLD", -1)};
            {_on_lead(d, "NEW", 1)};
            RETURN NULL;
        END $$""")
    op.execute(
        "CREATE TRIGGER interaction_rollups AFTER INSERT OR DELETE OR UPDATE OF "
        f"{', '.join(UPDATE_COLUMNS)} ON interactions FOR EACH ROW"
        " EXECUTE FUNCTION interaction_rollups_on_interaction()"
    )
    op.execute(
        "CREATE TRIGGER interaction_rollups_lead AFTER UPDATE OF owner_id, campaign_id, utm_campaign ON leads"
        f" FOR EACH ROW WHEN ({LEAD_CHANGED.replace(' IS NOT ', ' IS DISTINCT FROM ')})"
        " EXECUTE FUNCTION interaction_rollups_on_lead()"
    )
    op.execute(
        "CREATE TRIGGER interaction_rollups_lead_delete BEFORE DELETE ON leads"
        " FOR EACH ROW EXECUTE FUNCTION interaction_rollups_on_lead()"
    )


def _sqlite_triggers() -> None:
    d = "sqlite"
    op.execute(
        "CREATE TRIGGER interaction_rollups_insert AFTER INSERT ON interactions"
        f" BEGIN {_on_interaction(d, 'NEW', 1)}; END"
    )
    op.execute(
        "CREATE TRIGGER interaction_rollups_delete AFTER DELETE ON interactions"
        f" BEGIN {_on_interaction(d, 'OLD', -1)}; END"
    )
    op.execute(
        f"CREATE TRIGGER interaction_rollups_update AFTER UPDATE OF {', '.join(UPDATE_COLUMNS)} ON interactions"
        f" BEGIN {_on_interaction(d, 'OLD', -1)}; {_on_interaction(d, 'NEW', 1)}; END"
    )
    op.execute(
        "CREATE TRIGGER interaction_rollups_lead AFTER UPDATE OF owner_id, campaign_id, utm_campaign ON leads"
        f" WHEN {LEAD_CHANGED} BEGIN {_on_lead(d, 'OLD', -1)}; {_on_lead(d, 'NEW', 1)}; END"
    )
    op.execute(
        f"CREATE TRIGGER interaction_rollups_lead_delete BEFORE DELETE ON leads BEGIN {_on_lead(d, 'OLD', -1)}; END"
    )


def downgrade() -> None:
    d = op.get_bind().dialect.name
    if d == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS interaction_rollups ON interactions")
        op.execute("DROP TRIGGER IF EXISTS interaction_rollups_lead ON leads")
        op.execute("DROP TRIGGER IF EXISTS interaction_rollups_lead_delete ON leads")
        op.execute("DROP FUNCTION IF EXISTS interaction_rollups_on_interaction()")
        op.execute("DROP FUNCTION IF EXISTS interaction_rollups_on_lead()")
        op.execute("DROP FUNCTION IF EXISTS leadchain_json_bool(jsonb)")
    else:
        for name in ("insert", "delete", "update", "lead", "lead_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS interaction_rollups_{name}")
    for name, *_ in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_table("interaction_rollups")
