"""schemathesis over the web's OpenAPI spec (issue 14: "≥ 20,000 requests ... 0 responses 5xx").

    .venv/bin/python -m bench.schemathesis_run [--requests 20000] [--backends sqlite,postgresql] [--seed 14]

For each backend, build the app (create_app) on a fresh, migrated database (PostgreSQL: CREATE DATABASE
bench_st_<random> on the test server of tests/throwaway_pg.py, dropped at the end; SQLite: a temp file)
holding three leads (SEEDED), with the test secrets of tests/conftest.py (API key, lead webhook secrets)
and the provider webhook secrets of tests/voice/provider_hooks.py. Take /api/openapi.json from the app,
add the request bodies it does not declare (with_bodies: the webhooks and the CSV import), load it with
schemathesis.openapi.from_dict against the WSGI app, and draw cases for every operation, positive and
negative (schemathesis's generation modes), until the backend has made its share of --requests; path
ids are also pinned to the seeded leads, the lead source to the configured ones. Every request carries
the valid API key; requests to a signed webhook are signed by a WSGI layer in front of the app with the
real secrets (nine in ten; the tenth goes unsigned so the refusal path is fuzzed too).

Temporal points at nothing (127.0.0.1:9): the web must answer without it (2xx from its inbox; where it
has to ask Temporal -- the chain status and control of the seeded lead with a chain -- 503 with
Retry-After, the designed answer for a dependency that is down, counted and printed apart), never 500.
The auth-failure throttle is raised so the unsigned tenth does not turn every later request into a 429.

Checks: schemathesis's not_a_server_error on every response (any other status >= 500, or an exception
out of the app, is a failure); --checks adds more (status_code_conformance, response_schema_conformance,
content_type_conformance), whose failures are counted apart. Prints requests by status class per
backend and every 5xx with its operation and a curl reproduction. Exit status: 0 with no 5xx, 1 with
any, 2 when the run could not start (no PostgreSQL).

Run of 2026-12-06 (--requests 20000 --checks status_code_conformance,response_schema_conformance,
content_type_conformance), 19,992 requests per backend, 14 operations x 1,428: before the fixes of that
day 10 5xx on SQLite and 47 on PostgreSQL (a SendGrid event's lead_id past the id column), and smaller
runs found a list as a SendGrid event kind and NUL in an event (PostgreSQL); after them 0 on both. The
503s with Retry-After: 9 (SQLite), 10 (PostgreSQL), all on lead 2's chain. status_code_conformance and
content_type_conformance pass; response_schema_conformance fails only on POST /webhooks/vapi's 200 (496
and 506), whose spec documents no 200 answer.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import json
import logging
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
import schemathesis
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask_migrate import upgrade
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seed_of
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.models import Lead
from tests import throwaway_pg
from tests.conftest import API_KEY, WEBHOOK_SECRETS, make_test_secrets
from tests.voice.provider_hooks import SECRETS, sign

AUTH = {"Authorization": f"Bearer {API_KEY}"}
NOWHERE = "127.0.0.1:9"  # the discard port: nothing answers there
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
HEALTH = list(HealthCheck)
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())  # its public key is in the app's secrets (build_app)
SENDGRID_PUBLIC = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
PROVIDER_DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "providers"
SEEDED = (1, 2, 3)  # ids of the leads build_app stores (a fresh database counts from 1)


def _b64_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def signature_headers(path: str, body: bytes) -> dict[str, str]:
    """The headers a genuine sender of `path` would add to `body` (tests/voice/provider_hooks.sign for the providers,
    the Standard Webhooks scheme for lead sources); {} for a path nobody signs here."""
    ts = str(int(time.time()))
    if path.startswith("/webhooks/leads/"):
        msg_id = f"msg_{uuid.uuid4().hex}"
        mac = hmac.new(_b64_key(WEBHOOK_SECRETS[1]), f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
        sig = "v1," + base64.b64encode(mac).decode()
        return {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": sig}
    provider = path.removeprefix("/webhooks/")
    if provider in ("retell", "vapi", "bland"):
        return sign(provider, body)
    if provider in ("sendgrid", "sendgrid/inbound"):  # ECDSA P-256 over timestamp + body (docs/providers.md §4.4)
        sig = SENDGRID_KEY.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        }
    return {}


class Signer:
    """WSGI layer: signs nine in ten webhook requests with the real secrets, replacing generated headers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.n = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/webhooks/") and environ.get("REQUEST_METHOD") == "POST":
            self.n += 1
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            if self.n % 10:
                for name, value in signature_headers(path, body).items():
                    environ["HTTP_" + name.upper().replace("-", "_")] = value
        return self.app(environ, start_response)


@dataclass
class Tally:
    operations: int = 0  # in the spec
    extra_checks: tuple[str, ...] = ()  # schemathesis checks run besides not_a_server_error
    unavailable: Counter[str] = field(default_factory=Counter)  # 503 + Retry-After, by operation
    conformance: Counter[str] = field(default_factory=Counter)  # their failures, by check and by check + operation
    conformance_samples: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    samples: dict[tuple[str, int], str] = field(default_factory=dict)  # one answer per operation and status
    codes: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    server_errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def _strategy(operation: Any, mode: GenerationMode) -> Any:
    strategy = operation.as_strategy(generation_mode=mode)
    pinned: list[dict[str, Any]] = []
    if operation.path == "/webhooks/leads/{source}":
        # The configured sources too, not only random names that end at 404.
        pinned = [{"source": source} for source in ("partner", "website")]
    elif "{lead_id}" in operation.path:
        pinned = [{"lead_id": lead_id} for lead_id in SEEDED]  # leads that exist, not only 404s
    for path_parameters in pinned:
        strategy = st.one_of(strategy, operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    if mode == GenerationMode.POSITIVE and operation.label in ("POST /api/v1/leads", "POST /webhooks/leads/{source}"):
        # A lead needs an email or a phone, which the schema cannot say: give some cases a real one, so
        # the fuzzed other fields reach storage (a 202), not only the 422.
        strategy = st.one_of(strategy, st.tuples(strategy, st.sampled_from(CONTACTS)).map(_with_contact))
    if mode == GenerationMode.POSITIVE and operation.label == "POST /api/v1/leads/import":
        strategy = st.one_of(strategy, strategy.map(_with_csv_header))  # rows under a real header, not only noise
    return strategy


CSV_HEADER = "first_name,last_name,email,phone,company,country\n"


def _with_csv_header(case: Any) -> Any:
    if isinstance(case.body, str):
        case.body = CSV_HEADER + case.body.replace(";", ",")
    return case


CONTACTS = ({"email": "anna.schmidt@firma.de"}, {"phone": "+49 30 23125101"}, {"email": "jo@beispiel.de"})


def _with_contact(drawn: tuple[Any, dict[str, str]]) -> Any:
    case, contact = drawn
    if isinstance(case.body, dict):
        case.body.update(contact)
    return case


def _shape(value: Any) -> dict[str, Any]:
    """A JSON schema of `value`'s shape (its keys, required, and types): a documented example becomes a
    generator of bodies like it, with random values and extra keys."""
    if isinstance(value, dict):
        return {"type": "object", "properties": {k: _shape(v) for k, v in value.items()}, "required": list(value)}
    if isinstance(value, list):
        return {"type": "array", "items": _shape(value[0]) if value else {}}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):  # the documented value (an event name, a status) or any string
        return {"anyOf": [{"enum": [value]}, {"type": "string"}]}
    return {}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_TEXT = {"type": "string"}
SENDGRID_EVENT = {  # the fields crm/webhooks/sendgrid.py reads (docs/providers.md §4.3), known values or any
    "type": "object",
    "properties": {
        "event": {"anyOf": [{"enum": ["processed", "delivered", "open", "click", "bounce", "dropped"]}, _TEXT]},
        "email": _TEXT,
        "timestamp": {"type": "integer"},
        "sg_message_id": _TEXT,
        "message_key": _TEXT,
        "lead_id": {"anyOf": [_TEXT, {"type": "integer"}]},
        "reason": _TEXT,
        "status": _TEXT,
        "bounce_classification": _TEXT,
        "sg_machine_open": {"type": "boolean"},
    },
    "required": ["event", "email", "timestamp"],
}
SENDGRID_INBOUND = {  # Inbound Parse's form fields (docs/providers.md §4.5)
    "type": "object",
    "properties": {name: _TEXT for name in ("from", "to", "cc", "subject", "text", "html", "headers", "envelope")},
    "required": ["from", "to", "subject", "text"],
}


def with_bodies(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with a request body on the operations that read one but do not declare it (the webhooks,
    the CSV import): otherwise schemathesis sends them nothing and every case ends at 415. The lead
    webhook gets the API's LeadIn (one or a batch), each provider the shape of its documented examples
    in tests/data/providers/ (or any object), the import a CSV text. The negative cases draw the rest."""
    examples = {
        "/webhooks/retell": ("retell_call_analyzed_call_object.json", "retell_call_started.json"),
        "/webhooks/vapi": ("vapi_end_of_call_report.json", "vapi_status_update_ended.json"),
        "/webhooks/bland": ("bland_post_call.json", "bland_call_details.json"),
    }
    lead = {"$ref": "#/components/schemas/LeadIn"}
    bodies = {
        "/webhooks/leads/{source}": _json_body({"anyOf": [lead, {"type": "array", "items": lead}]}),
        "/api/v1/leads/import": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
    }
    bodies["/webhooks/sendgrid"] = _json_body({"type": "array", "items": SENDGRID_EVENT})
    bodies["/webhooks/sendgrid/inbound"] = {
        "required": True,
        "content": {"multipart/form-data": {"schema": SENDGRID_INBOUND}},
    }
    for path, names in examples.items():
        shapes = [_shape(json.loads((PROVIDER_DATA / name).read_text(encoding="utf-8"))) for name in names]
        bodies[path] = _json_body({"anyOf": shapes})
    for path, body in bodies.items():
        operation = spec["paths"][path]["post"]
        operation.setdefault("requestBody", body)
    return spec


def run_operations(app: Flask, total: int, seed: int, label: str = "", extra_checks: tuple[str, ...] = ()) -> Tally:
    """Draw about `total` cases over every operation of the app's spec; call each, check not_a_server_error
    (a 5xx) and each of `extra_checks` (names of schemathesis checks, counted apart)."""
    spec = app.test_client().get("/api/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(with_bodies(spec))
    schema.app = Signer(app)
    operations = [result.ok() for result in schema.get_all_operations()]
    tally = Tally(operations=len(operations), extra_checks=extra_checks)
    share = max(1, total // (len(operations) * len(MODES)))
    for operation in operations:
        for mode in MODES:
            _draw(operation, mode, share, f"{seed}:{label}", tally)
    return tally


def _draw(operation: Any, mode: GenerationMode, share: int, seed: str, tally: Tally) -> None:
    """Call `share` cases of one operation and mode; a small search space runs out, so draw again with a
    new seed (up to 20 rounds) until the share is made or a round finds nothing new."""
    made = 0

    def one(case: Any) -> None:
        nonlocal made
        made += 1
        _call(case, operation.label, tally)

    for round_ in range(20):
        if made >= share:
            return
        test = settings(
            max_examples=share - made,
            deadline=None,
            database=None,
            phases=(Phase.explicit, Phase.generate),
            suppress_health_check=HEALTH,
        )(given(_strategy(operation, mode))(one))
        before = made
        try:
            seed_of(zlib.crc32(f"{seed}:{operation.label}:{mode.value}:{round_}".encode()))(test)()
        except Unsatisfiable:  # e.g. no negative case for an operation without inputs
            return
        if made == before:
            return


def _call(case: Any, label: str, tally: Tally) -> None:
    try:
        response = case.call(headers=AUTH)
    except Exception as e:  # noqa: BLE001 (an exception out of the app is a 500 under gunicorn)
        tally.statuses["5xx"] += 1
        tally.by_operation[label] += 1
        tally.server_errors.append(f"{label}: raised {type(e).__name__}: {e!s:.300}\n    {_curl(case)}")
        return
    tally.statuses[f"{response.status_code // 100}xx"] += 1
    tally.by_operation[label] += 1
    tally.codes[label][response.status_code] += 1
    tally.samples.setdefault((label, response.status_code), response.text[:200].replace("\n", " "))
    if response.status_code == 503 and response.headers.get("retry-after"):  # lower-case names, list values
        tally.unavailable[label] += 1  # a dependency down (Temporal at NOWHERE): the designed answer
    else:
        _check_server_error(case, response, label, tally)
    for name in tally.extra_checks:
        try:
            case.validate_response(response, checks=[getattr(schemathesis.checks, name)], headers=AUTH)
        except FailureGroup as e:
            tally.conformance[name] += 1
            tally.conformance[f"{name} {label}"] += 1
            if tally.conformance[name] <= 3:
                tally.conformance_samples.append(f"{name} {label} {response.status_code}: {str(e)[:300]!r}")


def _check_server_error(case: Any, response: Any, label: str, tally: Tally) -> None:
    try:
        case.validate_response(response, checks=[not_a_server_error], headers=AUTH)
    except FailureGroup as e:  # a BaseExceptionGroup of the checks' failures
        text = response.text[:300].replace("\n", " ")
        tally.server_errors.append(f"{label}: {response.status_code} {text} [{type(e).__name__}]\n    {_curl(case)}")


def _curl(case: Any) -> str:
    try:
        command = str(case.as_curl_command(headers=AUTH, base_url="http://localhost"))
        return command if len(command) <= 2000 else command[:2000] + f" ... ({len(command)} characters)"
    except Exception as e:  # noqa: BLE001
        return f"(no curl: {e})"


def build_app(database_url: str) -> Flask:
    """The app on `database_url` (migrated here), Temporal at NOWHERE, the test and provider secrets."""
    base = Settings.from_env()
    base = replace(base, temporal_address=NOWHERE, temporal_rpc_timeout_s=0.3)
    base = base.with_part("security", auth_failure_limit="1000000/minute")
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url},
        settings=base,
        secrets=make_test_secrets(
            **SECRETS,
            LEADCHAIN_SECRET_PROVIDERS_SENDGRID_WEBHOOK_PUBLIC_KEY=SENDGRID_PUBLIC,
            LEADCHAIN_SECRET_PROVIDERS_SENDGRID_INBOUND_PUBLIC_KEY=SENDGRID_PUBLIC,
        ),
    )
    with app.app_context():
        upgrade()
    return app


def seed_leads(app: Flask) -> None:
    """Store the SEEDED leads (into an empty database: they get those ids); the second one with a chain id. In the
    migration's first company: the API key the requests carry is that company's."""
    from crm.tenancy.context import company_scope

    with app.app_context(), company_scope(1):
        for n in SEEDED:
            phone = f"+49302312510{n:02d}"
            lead = Lead(source="bench", first_name="Dana", last_name=f"Weber {n}", phone_e164=phone, phone_region="DE")
            lead.phone_status, lead.tags, lead.score, lead.language = "valid", [], 80, "de"
            # Lead 2 has a chain: its status and control ask Temporal (at NOWHERE: a 503, never a 500).
            lead.chain_id = f"lead-chain-bench-{n}" if n == 2 else None
            db.session.add(lead)
        db.session.commit()
        db.session.remove()


def _run_backend(backend: str, requests: int, seed: int, checks: tuple[str, ...]) -> Tally:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            app = build_app(f"sqlite:///{Path(tmp) / 'leadchain.db'}")
            seed_leads(app)
            try:
                return run_operations(app, requests, seed, backend, checks)
            finally:
                with app.app_context():
                    db.engine.dispose()
    choice = throwaway_pg.resolve()
    name = f"bench_st_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(choice.conninfo, autocommit=True, connect_timeout=5)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        app = build_app(throwaway_pg.sqlalchemy_url(choice.conninfo, name))
        seed_leads(app)
        try:
            return run_operations(app, requests, seed, backend, checks)
        finally:
            with app.app_context():
                db.engine.dispose()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        if choice.throwaway is not None:
            choice.throwaway.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000, help="per backend")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--checks", default="", help="schemathesis checks besides not_a_server_error, e.g. status_code_conformance"
    )
    parser.add_argument("--samples", action="store_true", help="print one answer per operation and status")
    args = parser.parse_args(argv)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("crm").setLevel(logging.CRITICAL)  # thousands of expected ALERTs for unparseable bodies
    failed = False
    for backend in args.backends.split(","):
        started = time.monotonic()
        try:
            tally = _run_backend(backend, args.requests, args.seed, tuple(filter(None, args.checks.split(","))))
        except (throwaway_pg.PostgresUnavailable, psycopg.OperationalError) as e:
            print(f"{backend}: cannot run: {e}", file=sys.stderr)
            return 2
        took = time.monotonic() - started
        classes = ", ".join(f"{k} {v}" for k, v in sorted(tally.statuses.items()))
        print(f"{backend}: {tally.requests} requests in {took:.0f} s ({classes}); 5xx: {len(tally.server_errors)}")
        for label, n in sorted(tally.by_operation.items()):
            codes = " ".join(f"{code}:{k}" for code, k in sorted(tally.codes[label].items()))
            print(f"  {n:6d}  {label}  ({codes})")
        if args.samples:
            for (label, code), text in sorted(tally.samples.items()):
                print(f"  sample {label} {code}: {text}")
        if tally.unavailable:
            print(f"  503 with Retry-After (Temporal at {NOWHERE}, not counted as failures): {dict(tally.unavailable)}")
        if tally.extra_checks:
            for name in tally.extra_checks:
                print(f"  {name}: {tally.conformance[name]} failures")
                for key, n in sorted(tally.conformance.items()):
                    if key.startswith(name + " "):
                        print(f"    {n:6d}  {key.removeprefix(name + ' ')}")
            for sample in tally.conformance_samples:
                print(f"  {sample}")
        for failure in tally.server_errors:
            print(f"  5xx {failure}")
        failed = failed or bool(tally.server_errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
