"""crm.config.Settings: every documented variable is read by Settings.from_env (README's table is the
list), bad values stop with an error naming the variable, and nothing else reads the environment for
settings (an AST scan), looks a secret up by a string literal, or sets a *_FACTORY config key."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from crm import create_app
from crm.config import Settings, SettingsError
from tests.conftest import make_test_secrets

ROOT = Path(__file__).resolve().parent.parent
# Not Settings: the secrets backend's switches (crm.secrets reads them) and the secrets themselves, and two
# launcher flags read before any process (and so any Settings) exists.
NOT_SETTINGS = {
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_TOKEN_FILE",
    "VAULT_MOUNT",
    "VAULT_PREFIX",
    "LEADCHAIN_SECRET_<GROUP>_<KEY>",
    "LEADCHAIN_WORKER_SHUTDOWN_GRACE_S",
    "LEADCHAIN_DEMO_ANYTIME",
}


def readme_variables() -> list[str]:
    """The variables of README's configuration table, one per row."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Configuration") :]
    section = section[: section.index("\n## ", 1)]
    names: list[str] = []
    for line in section.splitlines():
        found = re.match(r"\| `([A-Z_<>]+)`", line)
        if found:
            names.extend(re.findall(r"`([A-Z][A-Z0-9_<>]+)`", line.split("|")[1]))
    return names


class Recording(Mapping[str, str]):
    """An environment that remembers which variables were asked for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values, self.asked = dict(values), set[str]()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self.values[key]

    def get(self, key, default=None):  # type: ignore[override]
        self.asked.add(key)
        return self.values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


# variable -> (a value that is not the default, how to read it back, what it must read back as)
TABLE = {
    "DATABASE_URL": ("postgres://u@db:5432/x", lambda s: s.database_url, "postgresql+psycopg://u@db:5432/x"),
    "LEADCHAIN_VAR_DIR": ("/srv/leadchain", lambda s: s.var_dir, Path("/srv/leadchain")),
    "LEADCHAIN_DB_CONNECT_TIMEOUT_S": ("2.5", lambda s: s.database.connect_timeout_s, 2.5),
    "LEADCHAIN_DB_PING_TIMEOUT_S": ("0.25", lambda s: s.database.ping_timeout_s, 0.25),
    "LEADCHAIN_DB_STATEMENT_TIMEOUT_MS": ("9000", lambda s: s.database.statement_timeout_ms, 9000),
    "LEADCHAIN_DB_POOL_TIMEOUT_S": ("3", lambda s: s.database.pool_timeout_s, 3.0),
    "LEADCHAIN_SQLITE_BUSY_TIMEOUT_S": ("12", lambda s: s.database.sqlite_busy_timeout_s, 12.0),
    "LEADCHAIN_TEMPORAL_RPC_TIMEOUT_S": ("4", lambda s: s.temporal_rpc_timeout_s, 4.0),
    "LEADCHAIN_READINESS_TIMEOUT_S": ("0.3", lambda s: s.readiness_timeout_s, 0.3),
    "LEADCHAIN_AUTH_FAILURE_LIMIT": ("5/second", lambda s: s.security.auth_failure_limit, "5/second"),
    "LEADCHAIN_RATELIMIT_API_KEY": ("7/second", lambda s: s.security.api_key_limit, "7/second"),
    "LEADCHAIN_RATELIMIT_SOURCE": ("8/second", lambda s: s.security.source_limit, "8/second"),
    "LEADCHAIN_TWO_FACTOR_FOR_ADMINS": ("0", lambda s: s.security.two_factor_for_admins, False),
    "LEADCHAIN_DEFAULT_REGION": ("AT", lambda s: s.default_phone_region, "AT"),
    "LEADCHAIN_MAX_REQUEST_BYTES": ("2048", lambda s: s.max_request_bytes, 2048),
    "LEADCHAIN_MAX_WEBHOOK_BYTES": ("1024", lambda s: s.max_webhook_bytes, 1024),
    "LEADCHAIN_MAX_BATCH": ("7", lambda s: s.max_batch_leads, 7),
    "LEADCHAIN_FUZZY_THRESHOLD": ("85.5", lambda s: s.fuzzy_threshold, 85.5),
    "LEADCHAIN_DELIVERY_RETENTION_DAYS": ("9", lambda s: s.delivery_retention_days, 9),
    "LEADCHAIN_CHAIN_SETTINGS": ('{"retry_delay_s": 90}', lambda s: dict(s.chain.overrides), {"retry_delay_s": 90}),
    "LEADCHAIN_REOPEN_AFTER_DAYS": ("0", lambda s: s.chain.reopen_after_days, 0),
    "LEADCHAIN_RELAY_INFLIGHT_PER_COMPANY": ("3", lambda s: s.chain.relay_inflight_per_company, 3),
    "LEADCHAIN_RELAY_INFLIGHT_LEASE_S": ("90.5", lambda s: s.chain.relay_inflight_lease_s, 90.5),
    "LEADCHAIN_RELAY_INFLIGHT_CAPACITY": ("12", lambda s: s.chain.relay_inflight_capacity, 12),
    "LEADCHAIN_SCORING_RULES": ("/etc/rules.yaml", lambda s: s.chain.scoring_rules, "/etc/rules.yaml"),
    "LEADCHAIN_CALLING_HOURS": ('{"AT": {}}', lambda s: s.chain.gate.calling_hours, '{"AT": {}}'),
    "LEADCHAIN_MAX_CALL_ATTEMPTS_PER_DAY": ("5", lambda s: s.chain.gate.max_attempts_per_day, 5),
    "LEADCHAIN_REQUIRE_EXPRESS_CONSENT_FOR_AI_CALLS": (
        "no",
        lambda s: s.chain.gate.require_express_consent_for_ai_calls,
        False,
    ),
    "LEADCHAIN_GERMAN_PUBLIC_HOLIDAYS": ("off", lambda s: s.chain.gate.german_public_holidays, False),
    "LEADCHAIN_GERMAN_HOLIDAY_STATES": ("by, bw", lambda s: s.chain.gate.german_holiday_states, ("BY", "BW")),
    "LEADCHAIN_SANDBOX_URL": ("http://sbx:8099/", lambda s: s.providers.sandbox(), "http://sbx:8099"),
    "LEADCHAIN_RETELL_BASE_URL": ("http://r", lambda s: s.providers.base_url("retell"), "http://r"),
    "LEADCHAIN_VAPI_BASE_URL": ("http://v", lambda s: s.providers.base_url("vapi"), "http://v"),
    "LEADCHAIN_BLAND_BASE_URL": ("http://b", lambda s: s.providers.base_url("bland"), "http://b"),
    "LEADCHAIN_TWILIO_BASE_URL": ("http://t", lambda s: s.providers.base_url("twilio_realtime"), "http://t"),
    "LEADCHAIN_TWILIO_STREAM_URL": (
        "wss://b/twilio/media/s",
        lambda s: s.providers.twilio_stream_url,
        "wss://b/twilio/media/s",
    ),
    "LEADCHAIN_TWILIO_FROM_NUMBER": ("+4930555000", lambda s: s.providers.twilio_from_number, "+4930555000"),
    "LEADCHAIN_PUBLIC_URL": (
        "https://crm.example/",
        lambda s: (s.providers.public_url, s.email.public_url),
        ("https://crm.example/", "https://crm.example"),
    ),
    "LEADCHAIN_SENDGRID_HOST": (
        "https://api.eu.sendgrid.com",
        lambda s: s.email.sendgrid_host,
        "https://api.eu.sendgrid.com",
    ),
    "LEADCHAIN_SENDGRID_TOLERANCE_S": ("600", lambda s: s.email.sendgrid_tolerance_s, 600),
    "LEADCHAIN_EMAIL_FROM": ("a@x.example", lambda s: s.email.from_address, "a@x.example"),
    "LEADCHAIN_EMAIL_FROM_NAME": ("Vertrieb", lambda s: s.email.from_name, "Vertrieb"),
    "LEADCHAIN_EMAIL_REPLY_TO": ("r@x.example", lambda s: s.email.reply_to, "r@x.example"),
    "LEADCHAIN_UNSUBSCRIBE_SCOPE": ("Email", lambda s: s.email.unsubscribe_scope, "email"),
    "LEADCHAIN_COMPANY_NAME": (
        "Muster AG",
        lambda s: (s.email.company.name, s.reports.company_name, s.bridge.company_name),
        ("Muster AG",) * 3,
    ),
    "LEADCHAIN_COMPANY_ADDRESS": ("Weg 1", lambda s: s.email.company.address, "Weg 1"),
    "LEADCHAIN_COMPANY_REGISTER": ("HRB 1", lambda s: s.email.company.register, "HRB 1"),
    "LEADCHAIN_COMPANY_DIRECTORS": ("E. M.", lambda s: s.email.company.directors, "E. M."),
    "LEADCHAIN_COMPANY_VAT_ID": ("DE1", lambda s: s.email.company.vat_id, "DE1"),
    "LEADCHAIN_COMPANY_PHONE": ("+49 1", lambda s: s.email.company.phone, "+49 1"),
    "LEADCHAIN_COMPANY_EMAIL": ("k@x.example", lambda s: s.email.company.email, "k@x.example"),
    "LEADCHAIN_COMPANY_WEBSITE": ("https://x.example", lambda s: s.email.company.website, "https://x.example"),
    "LEADCHAIN_COMPANY_LOGO": ("/logo.png", lambda s: s.reports.company_logo, "/logo.png"),
    "LEADCHAIN_COMPANY_CURRENCY": ("CHF", lambda s: s.reports.company_currency, "CHF"),
    "LEADCHAIN_FX_RATES": ("USD:EUR=0.9", lambda s: s.reports.fx_rates, "USD:EUR=0.9"),
    "LEADCHAIN_REPORT_LANGUAGE": ("en", lambda s: s.reports.language, "en"),
    "LEADCHAIN_REPORT_CONCURRENCY": ("4", lambda s: s.reports.concurrency, 4),
    "LEADCHAIN_REPORTS_TASK_QUEUE": ("q-test", lambda s: s.reports.task_queue, "q-test"),
    "LEADCHAIN_DASHBOARD_CACHE_S": ("5", lambda s: s.reports.kpi_cache_s, 5.0),
    "LEADCHAIN_SESSION_IDLE_MINUTES": ("5", lambda s: s.security.session_idle_minutes, 5),
    "LEADCHAIN_SESSION_LIFETIME_HOURS": ("2", lambda s: s.security.session_lifetime_hours, 2),
    "LEADCHAIN_COOKIE_SECURE": ("0", lambda s: s.security.cookie_secure, False),
    "LEADCHAIN_RATELIMIT_STORAGE": ("redis://r:6379", lambda s: s.security.ratelimit_storage, "redis://r:6379"),
    "LEADCHAIN_PROXY_HOPS": ("2", lambda s: s.security.proxy_hops, 2),
    "LEADCHAIN_DEMO_PASSWORD": ("geheim-genug", lambda s: s.demo.password, "geheim-genug"),
    "LEADCHAIN_BRIDGE_HOST": ("0.0.0.0", lambda s: s.bridge.host, "0.0.0.0"),
    "LEADCHAIN_BRIDGE_PORT": ("9000", lambda s: s.bridge.port, 9000),
    "LEADCHAIN_BRIDGE_METRICS_HOST": ("10.0.0.1", lambda s: s.bridge.metrics_host, "10.0.0.1"),
    "LEADCHAIN_BRIDGE_METRICS_PORT": ("9001", lambda s: s.bridge.metrics_port, 9001),
    "LEADCHAIN_BRIDGE_FILLER_AFTER_S": ("0.7", lambda s: s.bridge.filler_after_s, 0.7),
    "LEADCHAIN_BRIDGE_TOOL_TIMEOUT_S": ("4", lambda s: s.bridge.tool_timeout_s, 4.0),
    "LEADCHAIN_BRIDGE_CALL_DETAILS_WAIT_S": ("2", lambda s: s.bridge.call_details_wait_s, 2.0),
    "LEADCHAIN_BRIDGE_SHUTDOWN_GRACE_S": ("9", lambda s: s.bridge.shutdown_grace_s, 9.0),
    "LEADCHAIN_BRIDGE_TRANSFER_NUMBER": ("+4930111", lambda s: s.bridge.transfer_number, "+4930111"),
    "LEADCHAIN_BRIDGE_CALLBACK_NUMBER": ("+4930222", lambda s: s.bridge.callback_number, "+4930222"),
    "LEADCHAIN_BRIDGE_LLM_URL": ("http://llm/v1", lambda s: s.bridge.llm_url, "http://llm/v1"),
    "LEADCHAIN_BRIDGE_LLM_MODEL": ("tiny", lambda s: s.bridge.llm_model, "tiny"),
    "LEADCHAIN_BRIDGE_LLM_TIMEOUT_S": ("1.5", lambda s: s.bridge.llm_timeout_s, 1.5),
    "LEADCHAIN_BRIDGE_LLM_TURN_TIMEOUT_S": ("6", lambda s: s.bridge.llm_turn_timeout_s, 6.0),
    "LEADCHAIN_BRIDGE_REALTIME_URL": ("ws://rt:1/v1", lambda s: s.bridge.realtime_url, "ws://rt:1/v1"),
    "LEADCHAIN_BRIDGE_REALTIME_MODEL": ("gpt-realtime-mini", lambda s: s.bridge.realtime_model, "gpt-realtime-mini"),
    "LEADCHAIN_BRIDGE_REALTIME_VOICE": ("cedar", lambda s: s.bridge.realtime_voice, "cedar"),
    "LEADCHAIN_BRIDGE_REALTIME_TRANSCRIBE_MODEL": (
        "whisper-1",
        lambda s: s.bridge.realtime_transcribe_model,
        "whisper-1",
    ),
    "TEMPORAL_ADDRESS": ("temporal:7233", lambda s: s.temporal_address, "temporal:7233"),
    "TEMPORAL_NAMESPACE": ("leads", lambda s: s.temporal_namespace, "leads"),
    "LEADCHAIN_WORKER_METRICS_PORT": ("0", lambda s: s.observability.worker_metrics_port, 0),
    "OTEL_EXPORTER_OTLP_ENDPOINT": (
        "http://otel:4318",
        lambda s: s.observability.otlp_endpoint,
        "http://otel:4318",
    ),
    "OTEL_SERVICE_NAME": (
        "crm-eu",
        lambda s: (s.observability.service_name, s.observability.for_process("leadchain-web").service_name),
        ("crm-eu", "crm-eu"),
    ),
    "LEADCHAIN_LOG_FORMAT": ("Text", lambda s: s.observability.log_json, False),
    "LEADCHAIN_LOG_LEVEL": ("debug", lambda s: s.observability.log_level, "DEBUG"),
    "PROMETHEUS_MULTIPROC_DIR": ("/tmp/prom", lambda s: s.observability.multiproc_dir, "/tmp/prom"),
}


def test_readme_documents_exactly_what_from_env_reads():
    documented = set(readme_variables()) - NOT_SETTINGS
    env = Recording({})
    Settings.from_env(env)
    assert env.asked == documented
    assert set(TABLE) == documented  # and this test has a row for each


@pytest.mark.parametrize("name", sorted(TABLE))
def test_each_variable_reaches_its_setting(name):
    value, read, expected = TABLE[name]
    default = read(Settings.from_env({}))
    assert default != expected  # the value below is not the default: the variable is what changed it
    assert read(Settings.from_env({name: value})) == expected


def test_the_defaults_are_the_documented_ones():
    s = Settings.from_env({})
    assert s == Settings()
    assert (s.default_phone_region, s.max_request_bytes, s.max_webhook_bytes, s.max_batch_leads) == (
        "DE",
        10485760,
        262144,
        500,
    )
    assert (s.temporal_address, s.temporal_namespace, s.chain.reopen_after_days) == ("localhost:7233", "default", 30)
    assert (s.bridge.port, s.bridge.metrics_port, s.security.session_idle_minutes) == (8765, 9465, 30)
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("/var/leadchain.db")
    assert s.providers.sandbox_url is None and s.email.public_url == "http://127.0.0.1:5000"
    # Observability: unnamed until a process names itself (the web, each worker), unless OTEL_SERVICE_NAME.
    o = s.observability
    assert (o.worker_metrics_port, o.log_json, o.log_level, o.otlp_endpoint, o.multiproc_dir) == (
        9464,
        True,
        "INFO",
        None,
        None,
    )
    assert o.for_process("leadchain-worker-chain").service_name == "leadchain-worker-chain"


NUMBERS = sorted(name for name, (_, _, expected) in TABLE.items() if type(expected) in (int, float))
FLAGS = [
    "LEADCHAIN_COOKIE_SECURE",
    "LEADCHAIN_GERMAN_PUBLIC_HOLIDAYS",
    "LEADCHAIN_REQUIRE_EXPRESS_CONSENT_FOR_AI_CALLS",
]


@pytest.mark.parametrize("name", NUMBERS)
def test_a_word_where_a_number_belongs_names_the_variable(name):
    with pytest.raises(SettingsError, match=f"^{name}: must be (an integer|a number), got 'zwei'") as e:
        Settings.from_env({name: "zwei"})
    assert e.value.variable == name


@pytest.mark.parametrize("name", ["LEADCHAIN_MAX_BATCH", "LEADCHAIN_PROXY_HOPS", "LEADCHAIN_BRIDGE_LLM_TIMEOUT_S"])
def test_a_number_below_its_minimum_names_the_variable(name):
    with pytest.raises(SettingsError, match=f"^{name}: must be at least"):
        Settings.from_env({name: "-1"})


@pytest.mark.parametrize("name", FLAGS)
def test_a_flag_that_is_neither_true_nor_false_names_the_variable(name):
    with pytest.raises(SettingsError, match=f"^{name}: must be true or false"):
        Settings.from_env({name: "maybe"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEADCHAIN_CHAIN_SETTINGS", "not json"),
        ("LEADCHAIN_CHAIN_SETTINGS", "[1, 2]"),
        ("LEADCHAIN_UNSUBSCRIBE_SCOPE", "sms"),
        ("LEADCHAIN_MAX_WEBHOOK_BYTES", "1.5"),
        ("LEADCHAIN_WORKER_METRICS_PORT", "70000"),
        ("LEADCHAIN_LOG_FORMAT", "xml"),
        ("LEADCHAIN_LOG_LEVEL", "verbose"),
    ],
)
def test_other_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=f"^{name}: "):
        Settings.from_env({name: value})


def test_settings_are_frozen_and_changed_by_copy():
    s = Settings.from_env({})
    with pytest.raises(FrozenInstanceError):
        s.providers.sandbox_url = "http://elsewhere"  # type: ignore[misc]
    changed = s.with_part("providers", sandbox_url="http://sbx")
    assert changed.providers.sandbox_url == "http://sbx" and s.providers.sandbox_url is None


def test_the_app_holds_one_settings_object_and_its_hooks_as_arguments():
    settings = Settings.from_env({"LEADCHAIN_SESSION_IDLE_MINUTES": "7", "LEADCHAIN_PROXY_HOPS": "1"})
    sentinel = object()
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"},
        settings=settings,
        secrets=make_test_secrets(),
        email_sender=sentinel,
    )
    assert app.config["LEADCHAIN"].security == settings.security
    assert app.config["UI_SESSION_IDLE"].total_seconds() == 7 * 60
    assert app.extensions["leadchain.email_sender"] is sentinel
    from crm.email.factory import build_sender

    assert build_sender(app) is sentinel


@pytest.mark.parametrize(
    "key", ["SECRETS", "LEADCHAIN_PROVIDER_FACTORY", "LEADCHAIN_GATE_POLICY", "TEMPORAL_ADDRESS", "SANDBOX_URL"]
)
def test_old_hook_keys_are_refused_with_the_argument_to_use(key):
    with pytest.raises(TypeError, match=f"{key} are not Flask settings; pass secrets="):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", key: object()})


# ---------------------------------------------------------------- what the code may not do

SCANNED = ("crm", "providers", "voice", "activities", "workflows", "sandbox")
# The modules that read the environment: settings (the observability ones included) and the secrets backend
# (VAULT_*, LEADCHAIN_SECRET_*).
ENV_READERS = {"crm/config.py", "crm/secrets.py"}
# Process plumbing in workers/: (file, function) pairs that may touch os.environ, and why.
WORKERS_ALLOWED = {
    # hands the process environment to Settings.from_env, and checks the launcher's demo flag on it
    ("workers/main.py", "run"),
    # puts var/local-secrets.env into the environment for crm.secrets, then takes it out again
    ("workers/cli.py", "_use_local_stack_secrets"),
    # which secrets backend this CLI process uses (crm.secrets' own switch)
    ("workers/cli.py", "local_api_key"),
    # the environment the launcher's child processes inherit
    ("workers/launcher.py", "local_secrets"),
    ("workers/launcher.py", "stack_environment"),
    # the grace period the launcher waits before SIGKILL, read before any process (or Settings) exists
    ("workers/shutdown.py", "worker_shutdown_grace_s"),
}


def _environ_reads(path: Path) -> list[tuple[str, int]]:
    """(enclosing function, line) of every os.environ / os.getenv / `from os import environ` in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if (
                isinstance(child, ast.Attribute)
                and isinstance(child.value, ast.Name)
                and child.value.id == "os"
                and child.attr in ("environ", "getenv", "environb", "putenv")
            ):
                found.append((function, child.lineno))
            if isinstance(child, ast.ImportFrom) and child.module == "os":
                if {a.name for a in child.names} & {"environ", "getenv", "environb"}:
                    found.append((function, child.lineno))
            visit(child, name)

    visit(tree, "<module>")
    return found


def _py_files(*dirs: str) -> Iterator[Path]:
    for d in dirs:
        yield from sorted((ROOT / d).rglob("*.py"))


def test_no_stray_environment_reads():
    stray = [
        f"{path.relative_to(ROOT)}:{line} ({function})"
        for path in _py_files(*SCANNED)
        if str(path.relative_to(ROOT)) not in ENV_READERS
        for function, line in _environ_reads(path)
    ]
    assert stray == []


def test_workers_touch_the_environment_only_for_process_plumbing():
    found = {
        (str(path.relative_to(ROOT)), function): line
        for path in _py_files("workers")
        for function, line in _environ_reads(path)
    }
    assert set(found) <= WORKERS_ALLOWED, {k: v for k, v in found.items() if k not in WORKERS_ALLOWED}


def test_the_scan_finds_a_read_where_there_is_one(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom os import getenv\n\ndef f():\n    return os.environ.get('X')\n")
    assert _environ_reads(sample) == [("<module>", 2), ("f", 5)]


SECRET_NAME = re.compile(r"^(app|api|providers|bridge|webhooks)/[a-z0-9][a-z0-9-]*$")
SECRET_NAMERS = {"crm/secret_names.py", "providers/settings.py"}


def _secret_literals(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if SECRET_NAME.match(node.value) or node.value.startswith("webhooks/leads-"):
                lines.append(node.lineno)
    return lines


def test_secrets_are_looked_up_by_named_constants_only():
    literal = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _py_files(*SCANNED, "workers")
        if str(path.relative_to(ROOT)) not in SECRET_NAMERS
        for line in _secret_literals(path)
    ]
    assert literal == []


def test_no_factory_config_keys_anywhere():
    pattern = re.compile(r"""config(\.get\(|\[|\.setdefault\(|\.update\()\s*["']?\w*_FACTORY|["']\w+_FACTORY["']""")
    me = Path(__file__).resolve()
    hits = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _py_files(*SCANNED, "workers", "tests", "bench")
        if path.resolve() != me
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []
