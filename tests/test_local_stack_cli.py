"""A `leadchain` command in a second terminal uses the running local stack's secrets, and a missing chain key
is a hard error everywhere (issue 12, part 1).

The "second terminal" is a real `leadchain` subprocess whose environment holds no secret at all, only
LEADCHAIN_VAR_DIR pointing at the var dir `leadchain up` prepared (secrets file written by the launcher's
own code, migrations applied). The web side is the real app with the launcher's environment, on the same
SQLite file; chain ids are compared in `lead_submissions`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from crm import create_app
from crm.secrets import EnvSecrets, read_local_secrets_file, secrets_from_env
from tests.helpers import signed_headers
from workers.launcher import stack_environment

REPO = Path(__file__).resolve().parent.parent
LEADCHAIN = str(Path(sys.executable).with_name("leadchain"))
PERSON = "erika.muster@demo-beispiel.example"
# The stack's first company: the CLI import and the `demo` lead source (webhooks/leads-demo) are its.
FIRST_COMPANY = 1


def second_terminal_env(var: Path, **extra: str) -> dict[str, str]:
    """A fresh shell: no secret, no database URL, no Vault; only where the stack keeps its state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADCHAIN_", "VAULT_")) and k != "DATABASE_URL"}
    return {**env, "LEADCHAIN_VAR_DIR": str(var), **extra}


def leadchain(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LEADCHAIN, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)


def expected_chain_id(chain_key: str, email_key: str, company_id: int = FIRST_COMPANY) -> str:
    """`c<company>-lead-<digest>`, the digest keyed by the chain key over the company and the person
    (docs/tenancy.md rule 4), recomputed here from the stack's key rather than by the code under test."""
    message = f"{company_id}:{email_key}".encode()
    return f"c{company_id}-lead-" + hmac.new(chain_key.encode(), message, hashlib.sha256).hexdigest()[:32]


SUBMISSIONS = "SELECT channel, company_id, chain_id FROM lead_submissions"


def rows(var: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(var / "leadchain.db") as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def stack_var(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A var dir as `leadchain up` leaves it: secrets written by the launcher, database migrated."""
    var = tmp_path / "var"
    var.mkdir()
    env = stack_environment(var, base=second_terminal_env(var))
    migrated = leadchain("db-upgrade", env=env)
    assert migrated.returncode == 0, migrated.stderr
    return var, env


def write_csv(path: Path, email: str, phone: str) -> Path:
    path.write_text(f"Vorname;Nachname;E-Mail;Telefon\nErika;Muster;{email};{phone}\n", encoding="utf-8")
    return path


def test_cli_import_in_a_second_terminal_and_a_signed_webhook_land_on_the_same_chain(stack_var, tmp_path):
    var, stack_env = stack_var
    chain_key = read_local_secrets_file(var / "local-secrets.env")["LEADCHAIN_SECRET_APP_CHAIN_KEY"]

    imported = leadchain(
        "import", str(write_csv(tmp_path / "export.csv", PERSON, "+49 30 23125109")), env=second_terminal_env(var)
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "chain-key" not in imported.stdout + imported.stderr

    # The web of the same stack: the launcher's environment, the same SQLite file.
    web = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{var / 'leadchain.db'}",
        },
        secrets=secrets_from_env(stack_env),
    )
    body = json.dumps(
        {"email": PERSON.upper(), "first_name": "Erika", "phone_consent": "ja", "phone": "+49 30 23125109"}
    ).encode()
    answer = web.test_client().post(
        "/webhooks/leads/demo",
        data=body,
        headers=signed_headers(stack_env["LEADCHAIN_SECRET_WEBHOOKS_LEADS_DEMO"], body),
    )
    assert answer.status_code == 202, answer.get_json()

    chains = {channel: (company, chain) for channel, company, chain in rows(var, SUBMISSIONS)}
    assert set(chains) == {"csv", "webhook"}
    assert chains["csv"] == chains["webhook"] == (FIRST_COMPANY, expected_chain_id(chain_key, PERSON))


def test_a_variable_set_in_the_terminal_wins_over_the_stack_file(stack_var, tmp_path):
    var, _ = stack_var
    other = "lena.beispiel@demo-beispiel.example"
    imported = leadchain(
        "import",
        str(write_csv(tmp_path / "other.csv", other, "+49 30 23125101")),
        env=second_terminal_env(var, LEADCHAIN_SECRET_APP_CHAIN_KEY="key-from-the-terminal"),
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert rows(var, "SELECT chain_id FROM lead_submissions") == [(expected_chain_id("key-from-the-terminal", other),)]


def test_the_cli_refuses_intake_without_a_chain_key(tmp_path):
    var = tmp_path / "bare-var"  # no `leadchain up` ran here: no secrets file at all
    var.mkdir()
    env = second_terminal_env(var, LEADCHAIN_SECRET_APP_SECRET_KEY="a-flask-key-is-no-chain-key")
    assert leadchain("db-upgrade", env=env).returncode == 0

    refused = leadchain("import", str(write_csv(tmp_path / "export.csv", PERSON, "+49 30 23125109")), env=env)
    assert refused.returncode != 0
    message = refused.stdout + refused.stderr
    assert "app/chain-key" in message and "LEADCHAIN_SECRET_APP_CHAIN_KEY" in message
    assert "Traceback" not in message
    assert "Run the same command again" not in message  # refused before the first row, not "stopped"
    assert rows(var, "SELECT count(*) FROM leads") == [(0,)]
    assert rows(var, "SELECT count(*) FROM lead_submissions") == [(0,)]


def test_the_web_answers_503_for_intake_without_a_chain_key(stack_var):
    var, stack_env = stack_var
    secret = stack_env["LEADCHAIN_SECRET_WEBHOOKS_LEADS_DEMO"]
    # Everything but the chain key; the Flask key must not stand in for it.
    keyless = EnvSecrets(
        {
            "LEADCHAIN_SECRET_WEBHOOKS_LEADS_DEMO": secret,
            "LEADCHAIN_SECRET_API_KEYS": "local:k-123",
            "LEADCHAIN_SECRET_APP_SECRET_KEY": "a-flask-key-is-no-chain-key",
        }
    )
    client = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{var / 'leadchain.db'}"}, secrets=keyless
    ).test_client()
    body = json.dumps({"email": PERSON}).encode()
    hook = client.post("/webhooks/leads/demo", data=body, headers=signed_headers(secret, body))
    assert hook.status_code == 503
    assert "chain key" in hook.get_json()["message"]
    api = client.post("/api/v1/leads", json={"email": PERSON}, headers={"X-API-Key": "k-123"})
    assert api.status_code == 503 and "chain key" in api.get_json()["message"]
    # Nothing half-written; the webhook's delivery is not recorded, so the source's retry goes through later.
    for table in ("lead_submissions", "webhook_deliveries", "leads"):
        assert rows(var, f"SELECT count(*) FROM {table}") == [(0,)], table


def add_company(var: Path, slug: str) -> int:
    """A second active company in the stack's database, as an operator would create it."""
    with sqlite3.connect(var / "leadchain.db") as conn:
        cursor = conn.execute(
            "INSERT INTO companies (slug, name, timezone, language, active, created_at)"
            " VALUES (?, ?, 'Europe/Berlin', 'de', 1, CURRENT_TIMESTAMP)",
            (slug, slug.title()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


def test_with_two_companies_the_import_names_its_company(stack_var, tmp_path):
    var, _ = stack_var
    second = add_company(var, "zweitfirma")
    env = second_terminal_env(var)
    export = str(write_csv(tmp_path / "export.csv", PERSON, "+49 30 23125109"))

    unnamed = leadchain("import", export, env=env)
    assert unnamed.returncode != 0
    assert "--company" in unnamed.stdout + unnamed.stderr and "Traceback" not in unnamed.stdout + unnamed.stderr
    unknown = leadchain("import", export, "--company", "no-such-firm", env=env)
    assert unknown.returncode != 0
    assert "--company" in unknown.stderr and "no-such-firm" in unknown.stderr
    assert rows(var, "SELECT count(*) FROM lead_submissions") == [(0,)]  # refused before the first row

    named = leadchain("import", export, "--company", "zweitfirma", env=env)
    assert named.returncode == 0, named.stdout + named.stderr
    chain_key = read_local_secrets_file(var / "local-secrets.env")["LEADCHAIN_SECRET_APP_CHAIN_KEY"]
    assert rows(var, "SELECT company_id, chain_id FROM lead_submissions") == [
        (second, expected_chain_id(chain_key, PERSON, company_id=second))
    ]
    assert rows(var, "SELECT company_id FROM leads") == [(second,)]
