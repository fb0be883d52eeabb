"""One typed Settings object, read from the environment in one place (`Settings.from_env`).

Secrets are not settings: they come from crm.secrets (Vault/OpenBao, or LEADCHAIN_SECRET_* variables) and
are handed to the constructors that need them as values. Every other module receives a Settings (or one of
its parts) instead of reading os.environ or ad-hoc app.config keys; README's configuration table lists each
variable with its default. An invalid value raises SettingsError naming the variable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from providers.settings import ProviderSettings
from workflows.report_payloads import REPORTS_TASK_QUEUE

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REOPEN_AFTER_DAYS = 30  # crm.services.chain_reopen's default, kept here so config imports nothing
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
T = TypeVar("T")


class SettingsError(ValueError):
    """A configuration variable holds a value that cannot be used; the message names the variable."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.variable = name


def var_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Local state of the stack (SQLite file, Temporal dev db, local secrets): LEADCHAIN_VAR_DIR or ./var.

    Also used by crm.secrets and the launcher before any Settings exists (to find var/local-secrets.env)."""
    env = os.environ if environ is None else environ
    return Path(env.get("LEADCHAIN_VAR_DIR") or str(PROJECT_ROOT / "var"))


def default_database_url(environ: Mapping[str, str] | None = None) -> str:
    return f"sqlite:///{var_dir(environ) / 'leadchain.db'}"


def normalise_database_url(url: str) -> str:
    # Operators paste libpq-style URLs; SQLAlchemy needs the driver named to pick psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


# ---------------------------------------------------------------- parts


# How long a running chain may stay in one stage before it counts as stuck: beyond the stage's next step.
# Active stages move within minutes; waiting ones are bounded by the chain's own timers (retry backoff,
# the result timeout and its fallback polling, the calling window over a weekend, the nurture cadence).
DEFAULT_STUCK_AFTER_S: dict[str, float] = {
    "importing": 15 * 60,
    "continuing": 15 * 60,
    "qualifying": 15 * 60,
    "calling": 30 * 60,
    "following_up": 30 * 60,
    "waiting_for_result": 2 * 3600,
    "waiting_for_retry": 2 * 86400,
    "waiting_for_window": 4 * 86400,
    "nurturing": 35 * 86400,
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class ObservabilitySettings:
    """Metrics, traces and logs of one process (crm.observability, docs/observability.md §1)."""

    service_name: str = "leadchain"
    service_name_given: bool = False  # by OTEL_SERVICE_NAME: kept; otherwise each process names itself
    # Each worker process serves /metrics here (0: not served). The voice bridge has its own port.
    worker_metrics_port: int = 9464
    worker_metrics_host: str = "0.0.0.0"  # noqa: S104 - inside a container; compose publishes nothing
    # OTLP/HTTP endpoint of a collector; None: spans are made (for in-process exporters) but not sent.
    otlp_endpoint: str | None = None
    log_json: bool = True
    log_level: str = "INFO"
    stuck_after_s: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_STUCK_AFTER_S))
    # The database collector's answer is reused for this long (Prometheus scrapes every 15 s; several
    # gunicorn processes each answer scrapes), and its queries get this long on the server.
    collector_cache_s: float = 10.0
    collector_timeout_ms: int = 2000
    # gunicorn: every web process writes its samples here and /metrics adds them up (None: this process's)
    multiproc_dir: str | None = None

    def for_process(self, name: str) -> ObservabilitySettings:
        """These settings named `name` (e.g. "leadchain-web") unless OTEL_SERVICE_NAME named them."""
        return self if self.service_name_given else replace(self, service_name=name)


@dataclass(frozen=True)
class CompanySettings:
    """The imprint German business email must carry (§ 35a GmbHG, § 37a HGB, § 5 DDG); placeholders by
    default for development."""

    name: str = "Leadchain GmbH"
    address: str = "Friedrichstraße 100, 10117 Berlin, Deutschland"
    register: str = "Amtsgericht Charlottenburg, HRB 000000 B"
    directors: str = "Max Mustermann"
    vat_id: str = "DE000000000"
    phone: str = "+49 30 000000"
    email: str = "kontakt@leadchain.example"
    website: str = "https://leadchain.example"


@dataclass(frozen=True)
class EmailSettings:
    sendgrid_host: str | None = None  # None: the real SendGrid with a key, the sandbox's without
    sendgrid_tolerance_s: int | None = None  # signed-event replay window; None: the module's default
    from_address: str = "vertrieb@leadchain.example"
    from_name: str = ""  # empty: the company name
    # Replies land here: an Inbound Parse host (MX to mx.sendgrid.net) posting to /webhooks/sendgrid/inbound.
    reply_to: str = "antwort@reply.leadchain.example"
    # Where recipients reach the CRM (unsubscribe links); the web app's public https URL in production.
    public_url: str = "http://127.0.0.1:5000"
    # "all" (docs/compliance.md §P5: an objection to direct marketing holds on every channel) or "email".
    unsubscribe_scope: str = "all"
    company: CompanySettings = field(default_factory=CompanySettings)


@dataclass(frozen=True)
class GateSettings:
    """The compliance gate's inputs (crm.services.compliance.GatePolicy.from_settings parses them)."""

    calling_hours: str | None = None  # JSON by region; None: the shipped DE/US windows
    max_attempts_per_day: int = 2
    require_express_consent_for_ai_calls: bool = True
    german_public_holidays: bool = True
    german_holiday_states: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChainEnvSettings:
    """What the chain and its activities take from configuration (the workflow's own ChainSettings are
    built from `overrides`)."""

    overrides: Mapping[str, Any] = field(default_factory=dict)  # LEADCHAIN_CHAIN_SETTINGS, a JSON object
    scoring_rules: str | None = None  # a rules file; None: the shipped crm/scoring_rules.yaml
    reopen_after_days: int = DEFAULT_REOPEN_AFTER_DAYS
    gate: GateSettings = field(default_factory=GateSettings)
    # Admission control (workers/relay.py, docs/tenancy.md "Fair sharing"): while another company is active
    # the relay starts at most this many busy chains per company (a quarter of the chain worker's 16 activity
    # threads: bench/fairness.py measured 8 at 1.85-2.54x B's time alone, 4 at 1.33-1.59x); a company alone
    # may fill the whole capacity (the 16 threads). An import waits in the inbox.
    relay_inflight_per_company: int = 4
    relay_inflight_capacity: int = 16
    relay_inflight_lease_s: float = 600.0  # a started chain stops counting after this long (a stuck one)


@dataclass(frozen=True)
class ReportSettings:
    language: str = "de"
    concurrency: int = 2
    company_name: str | None = None  # None: crm.reports.pdf's default
    company_logo: str | None = None  # a path to an SVG, PNG or JPEG; None: the shipped logo
    company_currency: str | None = None  # None: EUR
    fx_rates: str | None = None  # "USD:EUR=0.92; GBP:EUR=1.17"
    task_queue: str = REPORTS_TASK_QUEUE  # where the web starts report runs (tests give each run its own)
    kpi_cache_s: float = 30.0  # how long the dashboard keeps a computed KPI report per period


@dataclass(frozen=True)
class SecuritySettings:
    session_idle_minutes: int = 30
    session_lifetime_hours: int = 12
    cookie_secure: bool | None = None  # None: on unless the app runs in debug or testing mode
    ratelimit_storage: str = "memory://"  # one process only; the local stack and compose use Redis
    auth_failure_limit: str = "30/minute"  # failed API keys and webhook signatures per client IP
    # Accepted requests per API key and per webhook source (a lead source, a provider account): well above
    # the measured intake (bench/intake.py, about 75 leads/s) so only a runaway client meets it (docs/security.md).
    api_key_limit: str = "6000/minute"
    # Admins and operators sign in with a second factor (crm.ui.two_factor); None: on unless testing
    two_factor_for_admins: bool | None = None
    source_limit: str = "6000/minute"
    proxy_hops: int = 0


@dataclass(frozen=True)
class DatabaseSettings:
    """Bounds on every database wait (issue 14 item 2): a database that accepts TCP but never answers costs
    a web request at most ping + connect timeout (a 503 with Retry-After), never gunicorn's 30 s."""

    connect_timeout_s: float = 1.0  # a new connection, TCP and startup included
    ping_timeout_s: float = 0.5  # the check of a pooled connection when it is taken from the pool
    statement_timeout_ms: int = 15_000  # PostgreSQL's statement_timeout, the client gives up 1 s later; 0: none
    pool_timeout_s: float = 1.0  # waiting for a free pooled connection
    sqlite_busy_timeout_s: float = 30.0  # SQLite: a writer waits this long for the lock (crm.sqlite_connections)


@dataclass(frozen=True)
class BridgeSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    metrics_host: str = "127.0.0.1"  # /metrics is internal only (docs/compliance.md §S14)
    metrics_port: int = 9465
    filler_after_s: float = 0.4
    tool_timeout_s: float = 3.0
    call_details_wait_s: float = 1.0
    shutdown_grace_s: float = 5.0
    company_name: str = "Leadchain"
    transfer_number: str | None = None
    callback_number: str | None = None
    llm_url: str | None = None  # an OpenAI-compatible endpoint; None: the rules policy
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 2.5
    llm_turn_timeout_s: float = 8.0
    # Issue 22's own audio agent (voice.bridge.twilio_media): the OpenAI Realtime session of each call.
    realtime_url: str | None = None  # websocket_base_url, e.g. ws://127.0.0.1:P/v1; None: OpenAI's
    realtime_model: str = "gpt-realtime"
    realtime_voice: str = "marin"
    realtime_transcribe_model: str = "gpt-4o-transcribe"


@dataclass(frozen=True)
class DemoSettings:
    password: str | None = None  # None: crm.demo's well-known demo password


# ---------------------------------------------------------------- the whole


def _default_database_url() -> str:
    return normalise_database_url(default_database_url({}))


@dataclass(frozen=True)
class Settings:
    """Every non-secret setting. The first fields are the web app's (read by many modules as
    `app.config["LEADCHAIN"].<field>`); the groups below them belong to one area each."""

    database_url: str = field(default_factory=_default_database_url)
    default_phone_region: str = "DE"
    max_request_bytes: int = 10 * 1024 * 1024
    max_webhook_bytes: int = 256 * 1024
    max_batch_leads: int = 500
    webhook_tolerance_s: int = 300
    delivery_retention_days: int = 30
    fuzzy_threshold: float = 90.0
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_rpc_timeout_s: float = 1.0  # every call of the web into Temporal (crm.temporal_gateway); plus the
    # gateway's 0.25 s margin, a stalled Temporal costs a request 1.25 s, which leaves a loaded host 0.75 s of
    # the 2 s bound (issue 14 item 2) for the rest of the request
    readiness_timeout_s: float = 0.8  # each check of /readyz (database, Vault, Temporal), run in parallel
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    var_dir: Path = field(default_factory=lambda: var_dir({}))
    providers: ProviderSettings = field(default_factory=ProviderSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    chain: ChainEnvSettings = field(default_factory=ChainEnvSettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    bridge: BridgeSettings = field(default_factory=BridgeSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings in `environ` (the process environment by default); the one reader of settings."""
        env = _Env(environ)
        return cls(
            database_url=normalise_database_url(env.text("DATABASE_URL") or default_database_url(environ)),
            default_phone_region=env.text("LEADCHAIN_DEFAULT_REGION") or "DE",
            max_request_bytes=env.number("LEADCHAIN_MAX_REQUEST_BYTES", int, 10 * 1024 * 1024, minimum=1),
            max_webhook_bytes=env.number("LEADCHAIN_MAX_WEBHOOK_BYTES", int, 256 * 1024, minimum=1),
            max_batch_leads=env.number("LEADCHAIN_MAX_BATCH", int, 500, minimum=1),
            delivery_retention_days=env.number("LEADCHAIN_DELIVERY_RETENTION_DAYS", int, 30, minimum=0),
            fuzzy_threshold=env.number("LEADCHAIN_FUZZY_THRESHOLD", float, 90.0, minimum=0),
            temporal_address=env.text("TEMPORAL_ADDRESS") or "localhost:7233",
            temporal_namespace=env.text("TEMPORAL_NAMESPACE") or "default",
            temporal_rpc_timeout_s=env.number("LEADCHAIN_TEMPORAL_RPC_TIMEOUT_S", float, 1.0, minimum=0.1),
            readiness_timeout_s=env.number("LEADCHAIN_READINESS_TIMEOUT_S", float, 0.8, minimum=0.05),
            database=_database(env),
            var_dir=var_dir(environ),
            providers=ProviderSettings(
                sandbox_url=env.text("LEADCHAIN_SANDBOX_URL"),
                public_url=env.text("LEADCHAIN_PUBLIC_URL"),
                retell_base_url=env.text("LEADCHAIN_RETELL_BASE_URL"),
                vapi_base_url=env.text("LEADCHAIN_VAPI_BASE_URL"),
                bland_base_url=env.text("LEADCHAIN_BLAND_BASE_URL"),
                twilio_base_url=env.text("LEADCHAIN_TWILIO_BASE_URL"),
                twilio_stream_url=env.text("LEADCHAIN_TWILIO_STREAM_URL"),
                twilio_from_number=env.text("LEADCHAIN_TWILIO_FROM_NUMBER"),
            ),
            email=_email(env),
            chain=_chain(env),
            reports=ReportSettings(
                language=env.text("LEADCHAIN_REPORT_LANGUAGE") or "de",
                concurrency=env.number("LEADCHAIN_REPORT_CONCURRENCY", int, 2, minimum=1),
                company_name=env.text("LEADCHAIN_COMPANY_NAME"),
                company_logo=env.text("LEADCHAIN_COMPANY_LOGO"),
                company_currency=env.text("LEADCHAIN_COMPANY_CURRENCY"),
                fx_rates=env.text("LEADCHAIN_FX_RATES"),
                task_queue=env.text("LEADCHAIN_REPORTS_TASK_QUEUE") or REPORTS_TASK_QUEUE,
                kpi_cache_s=env.number("LEADCHAIN_DASHBOARD_CACHE_S", float, 30.0, minimum=0),
            ),
            security=SecuritySettings(
                session_idle_minutes=env.number("LEADCHAIN_SESSION_IDLE_MINUTES", int, 30, minimum=1),
                session_lifetime_hours=env.number("LEADCHAIN_SESSION_LIFETIME_HOURS", int, 12, minimum=1),
                cookie_secure=env.flag("LEADCHAIN_COOKIE_SECURE", None),
                ratelimit_storage=env.text("LEADCHAIN_RATELIMIT_STORAGE") or "memory://",
                auth_failure_limit=env.text("LEADCHAIN_AUTH_FAILURE_LIMIT") or "30/minute",
                api_key_limit=env.text("LEADCHAIN_RATELIMIT_API_KEY") or "6000/minute",
                source_limit=env.text("LEADCHAIN_RATELIMIT_SOURCE") or "6000/minute",
                two_factor_for_admins=env.flag("LEADCHAIN_TWO_FACTOR_FOR_ADMINS", None),
                proxy_hops=env.number("LEADCHAIN_PROXY_HOPS", int, 0, minimum=0),
            ),
            bridge=_bridge(env),
            demo=DemoSettings(password=env.text("LEADCHAIN_DEMO_PASSWORD")),
            observability=_observability(env),
        )

    def with_part(self, part: str, **changes: Any) -> Settings:
        """A copy with fields of one part changed, e.g. settings.with_part("providers", sandbox_url=url)."""
        return replace(self, **{part: replace(getattr(self, part), **changes)})

    def flask_mapping(self) -> dict[str, Any]:
        return {
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "MAX_CONTENT_LENGTH": self.max_request_bytes,
            "LEADCHAIN": self,
        }


Config = Settings  # the former name; one object either way


def _email(env: _Env) -> EmailSettings:
    d, c = EmailSettings(), CompanySettings()
    company = CompanySettings(
        **{f: env.text(f"LEADCHAIN_COMPANY_{f.upper()}") or getattr(c, f) for f in CompanySettings.__dataclass_fields__}
    )
    scope = (env.text("LEADCHAIN_UNSUBSCRIBE_SCOPE") or d.unsubscribe_scope).lower()
    if scope not in ("all", "email"):
        raise SettingsError("LEADCHAIN_UNSUBSCRIBE_SCOPE", f"must be 'all' or 'email', got {scope!r}")
    return EmailSettings(
        sendgrid_host=env.text("LEADCHAIN_SENDGRID_HOST"),
        sendgrid_tolerance_s=env.optional_int("LEADCHAIN_SENDGRID_TOLERANCE_S", minimum=1),
        from_address=env.text("LEADCHAIN_EMAIL_FROM") or d.from_address,
        from_name=env.text("LEADCHAIN_EMAIL_FROM_NAME") or d.from_name,
        reply_to=env.text("LEADCHAIN_EMAIL_REPLY_TO") or d.reply_to,
        public_url=(env.text("LEADCHAIN_PUBLIC_URL") or d.public_url).rstrip("/"),
        unsubscribe_scope=scope,
        company=company,
    )


def _chain(env: _Env) -> ChainEnvSettings:
    raw = env.text("LEADCHAIN_CHAIN_SETTINGS")
    overrides: Any = {}
    if raw:
        try:
            overrides = json.loads(raw)
        except ValueError:
            raise SettingsError("LEADCHAIN_CHAIN_SETTINGS", "is not valid JSON") from None
        if not isinstance(overrides, dict):
            raise SettingsError("LEADCHAIN_CHAIN_SETTINGS", "must be a JSON object of ChainSettings fields")
    states = tuple(
        s.strip().upper() for s in (env.text("LEADCHAIN_GERMAN_HOLIDAY_STATES") or "").split(",") if s.strip()
    )
    return ChainEnvSettings(
        overrides=overrides,
        scoring_rules=env.text("LEADCHAIN_SCORING_RULES"),
        reopen_after_days=env.number("LEADCHAIN_REOPEN_AFTER_DAYS", int, DEFAULT_REOPEN_AFTER_DAYS, minimum=0),
        relay_inflight_per_company=env.number("LEADCHAIN_RELAY_INFLIGHT_PER_COMPANY", int, 4, minimum=1),
        relay_inflight_capacity=env.number("LEADCHAIN_RELAY_INFLIGHT_CAPACITY", int, 16, minimum=1),
        relay_inflight_lease_s=env.number("LEADCHAIN_RELAY_INFLIGHT_LEASE_S", float, 600.0, minimum=1),
        gate=GateSettings(
            calling_hours=env.text("LEADCHAIN_CALLING_HOURS"),
            max_attempts_per_day=env.number("LEADCHAIN_MAX_CALL_ATTEMPTS_PER_DAY", int, 2, minimum=0),
            require_express_consent_for_ai_calls=env.flag("LEADCHAIN_REQUIRE_EXPRESS_CONSENT_FOR_AI_CALLS", True),
            german_public_holidays=env.flag("LEADCHAIN_GERMAN_PUBLIC_HOLIDAYS", True),
            german_holiday_states=states,
        ),
    )


def _database(env: _Env) -> DatabaseSettings:
    d = DatabaseSettings()
    return DatabaseSettings(
        connect_timeout_s=env.number("LEADCHAIN_DB_CONNECT_TIMEOUT_S", float, d.connect_timeout_s, minimum=0.1),
        ping_timeout_s=env.number("LEADCHAIN_DB_PING_TIMEOUT_S", float, d.ping_timeout_s, minimum=0.05),
        statement_timeout_ms=env.number("LEADCHAIN_DB_STATEMENT_TIMEOUT_MS", int, d.statement_timeout_ms, minimum=0),
        pool_timeout_s=env.number("LEADCHAIN_DB_POOL_TIMEOUT_S", float, d.pool_timeout_s, minimum=0.1),
        sqlite_busy_timeout_s=env.number("LEADCHAIN_SQLITE_BUSY_TIMEOUT_S", float, d.sqlite_busy_timeout_s, minimum=0),
    )


def _observability(env: _Env) -> ObservabilitySettings:
    d = ObservabilitySettings()
    port = env.number("LEADCHAIN_WORKER_METRICS_PORT", int, d.worker_metrics_port, minimum=0)
    if port > 65535:
        raise SettingsError("LEADCHAIN_WORKER_METRICS_PORT", f"not a port number: {port}")
    fmt = (env.text("LEADCHAIN_LOG_FORMAT") or "json").lower()
    if fmt not in ("json", "text"):
        raise SettingsError("LEADCHAIN_LOG_FORMAT", f"json or text, not {fmt!r}")
    level = (env.text("LEADCHAIN_LOG_LEVEL") or d.log_level).upper()
    if level not in LOG_LEVELS:
        raise SettingsError("LEADCHAIN_LOG_LEVEL", f"{', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}, not {level!r}")
    return ObservabilitySettings(
        service_name=env.text("OTEL_SERVICE_NAME") or d.service_name,
        service_name_given=env.text("OTEL_SERVICE_NAME") is not None,
        worker_metrics_port=port,
        otlp_endpoint=env.text("OTEL_EXPORTER_OTLP_ENDPOINT"),
        log_json=fmt == "json",
        log_level=level,
        multiproc_dir=env.text("PROMETHEUS_MULTIPROC_DIR"),
    )


def _bridge(env: _Env) -> BridgeSettings:
    d = BridgeSettings()
    # Not refused when it is no http(s) URL: the bridge logs that and the rules policy answers.
    llm_url = env.text("LEADCHAIN_BRIDGE_LLM_URL")
    return BridgeSettings(
        host=env.text("LEADCHAIN_BRIDGE_HOST") or d.host,
        port=env.number("LEADCHAIN_BRIDGE_PORT", int, d.port, minimum=0),
        metrics_host=env.text("LEADCHAIN_BRIDGE_METRICS_HOST") or d.metrics_host,
        metrics_port=env.number("LEADCHAIN_BRIDGE_METRICS_PORT", int, d.metrics_port, minimum=0),
        filler_after_s=env.number("LEADCHAIN_BRIDGE_FILLER_AFTER_S", float, d.filler_after_s, minimum=0),
        tool_timeout_s=env.number("LEADCHAIN_BRIDGE_TOOL_TIMEOUT_S", float, d.tool_timeout_s, minimum=0),
        call_details_wait_s=env.number("LEADCHAIN_BRIDGE_CALL_DETAILS_WAIT_S", float, d.call_details_wait_s, minimum=0),
        shutdown_grace_s=env.number("LEADCHAIN_BRIDGE_SHUTDOWN_GRACE_S", float, d.shutdown_grace_s, minimum=0),
        company_name=env.text("LEADCHAIN_COMPANY_NAME") or d.company_name,
        transfer_number=env.text("LEADCHAIN_BRIDGE_TRANSFER_NUMBER"),
        callback_number=env.text("LEADCHAIN_BRIDGE_CALLBACK_NUMBER"),
        llm_url=llm_url,
        llm_model=env.text("LEADCHAIN_BRIDGE_LLM_MODEL") or d.llm_model,
        llm_timeout_s=env.number("LEADCHAIN_BRIDGE_LLM_TIMEOUT_S", float, d.llm_timeout_s, minimum=0.001),
        llm_turn_timeout_s=env.number(
            "LEADCHAIN_BRIDGE_LLM_TURN_TIMEOUT_S", float, d.llm_turn_timeout_s, minimum=0.001
        ),
        realtime_url=env.text("LEADCHAIN_BRIDGE_REALTIME_URL"),
        realtime_model=env.text("LEADCHAIN_BRIDGE_REALTIME_MODEL") or d.realtime_model,
        realtime_voice=env.text("LEADCHAIN_BRIDGE_REALTIME_VOICE") or d.realtime_voice,
        realtime_transcribe_model=env.text("LEADCHAIN_BRIDGE_REALTIME_TRANSCRIBE_MODEL") or d.realtime_transcribe_model,
    )


class _Env:
    """Typed reads of one environment mapping; every failure names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        """The stripped value, or None when unset or blank."""
        value = str(self._environ.get(name) or "").strip()
        return value or None

    def number(self, name: str, kind: Callable[[str], T], default: T, *, minimum: float | None = None) -> T:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise SettingsError(name, f"must be {noun}, got {raw!r}") from None
        if minimum is not None and value < minimum:  # type: ignore[operator]
            raise SettingsError(name, f"must be at least {minimum:g}, got {raw!r}")
        return value

    def optional_int(self, name: str, *, minimum: int) -> int | None:
        return self.number(name, int, 0, minimum=minimum) if self.text(name) else None

    def flag(self, name: str, default: bool | None) -> Any:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingsError(name, f"must be true or false (1/0, yes/no, on/off), got {raw!r}")
