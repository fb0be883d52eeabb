"""docker-compose.yml (production topology), the Dockerfile and deploy/ agree with the architecture.

The compose file is validated by Debian's `docker-compose config -q` (installed by
scripts/system-deps.sh); no Docker engine is needed. Everything else reads the YAML with PyYAML,
which resolves the anchors and `<<` merge keys the same way docker-compose does.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
DEPLOY = REPO / "deploy"

# Variables the compose file requires (`${VAR:?...}`); the test supplies harmless placeholders.
REQUIRED_VARS = ("POSTGRES_SUPERUSER_PASSWORD", "LEADCHAIN_DB_PASSWORD", "TEMPORAL_DB_PASSWORD")
# The app settings file (env_file); a host has deploy/leadchain.env, the checks use the example.
ENV_EXAMPLE = DEPLOY / "leadchain.env.example"

WORKERS = ("chain", "provider", "reports", "voice-bridge")
ONE_SHOT = {"migrate", "temporal-setup", "temporal-schema"}
REQUIRED_SERVICES = {
    "postgres",
    "temporal",
    "temporal-ui",
    "temporal-setup",
    "temporal-schema",
    "vault",
    "web",
    "migrate",
    *(f"worker-{name}" for name in WORKERS),
    "purge",
    "postgres-backup",
    "prometheus",
    "redis",
    "grafana",
    "otel-collector",
}
# Services running the app image with the app's settings and secrets.
APP_SERVICES = ("web", *(f"worker-{name}" for name in WORKERS), "purge")
GUNICORN = ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "30", "crm.wsgi:app"]

# Environment keys that hold credentials: their values must be references, never literals.
SECRET_KEY_NAME = re.compile(r"PASSWORD|PASSWD|PWD|TOKEN|SECRET|KEY", re.IGNORECASE)
# ${VAR}, ${VAR:?message} or ${VAR?message}: no `:-default`, which would be a literal fallback.
REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}")
# Shapes of real credentials that must never appear anywhere in the file.
SECRET_SHAPES = {
    "vault/openbao token": re.compile(r"\b(?:hvs|hvb|hvr|s)\.[A-Za-z0-9_-]{20,}"),
    "openai-style key": re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),
    "sendgrid key": re.compile(r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    "aws access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:([^@/\s]+)@")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _docker_compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose is not installed (no `docker-compose` on PATH). The project "
            "needs Debian's `docker-compose` package to validate docker-compose.yml: run "
            "`bash scripts/system-deps.sh` as root or `apt-get install docker-compose`."
        )
    return binary


def _env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({name: "compose-check-placeholder" for name in REQUIRED_VARS})
    env["LEADCHAIN_ENV_FILE"] = str(ENV_EXAMPLE)
    env.update(overrides)
    return env


def _run_compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_docker_compose(), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _argv(command: Any) -> list[str]:
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: value for key, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _healthcheck_text(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test") or []
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


def literal_secrets(environment: dict[str, str]) -> list[str]:
    """Names of credential-like keys whose value is a literal rather than a reference/file path."""
    bad = []
    for key, value in environment.items():
        if SECRET_KEY_NAME.search(key):
            if REFERENCE.fullmatch(value) or value.startswith("/"):
                continue
            bad.append(key)
        else:
            match = URL_CREDENTIALS.search(value)
            if match and not REFERENCE.fullmatch(match.group(1)):
                bad.append(key)
    return bad


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    data = yaml.safe_load(compose_text)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


# ---------------------------------------------------------------------------------------------
# docker-compose itself
# ---------------------------------------------------------------------------------------------
def test_docker_compose_config_is_valid() -> None:
    result = _run_compose("-f", "docker-compose.yml", "config", "-q", env=_env())
    assert result.returncode == 0, (
        f"docker-compose config -q failed ({result.returncode}):\n{result.stderr}{result.stdout}"
    )


@pytest.mark.parametrize("missing", REQUIRED_VARS)
def test_docker_compose_refuses_to_run_without_each_secret(missing: str, tmp_path: Path) -> None:
    env = _env()
    del env[missing]
    # An empty --env-file: an operator's .env next to the compose file must not mask the check.
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("", encoding="utf-8")
    result = _run_compose("--env-file", str(empty_env_file), "-f", "docker-compose.yml", "config", "-q", env=env)
    assert result.returncode != 0, f"compose accepted an unset {missing}"
    assert missing in result.stderr + result.stdout


# ---------------------------------------------------------------------------------------------
# topology
# ---------------------------------------------------------------------------------------------
def test_required_services_exist(services: dict[str, Any]) -> None:
    missing = REQUIRED_SERVICES - services.keys()
    assert not missing, f"missing services: {sorted(missing)}"


def test_long_running_services_have_healthchecks_and_restart(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name in ONE_SHOT:
            continue
        healthcheck = service.get("healthcheck") or {}
        assert healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"
        assert service.get("restart") == "unless-stopped", f"{name}: restart policy"


def test_one_shot_services_run_once(services: dict[str, Any]) -> None:
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no", f"{name} must not be restarted"
        assert not services[name].get("ports"), f"{name} must not publish ports"


def test_dependencies_are_consistent(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dep, condition in _depends_on(service).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep} healthy"
            if condition == "service_completed_successfully":
                assert dep in ONE_SHOT, f"{name} waits for long-running {dep} to complete"


def test_third_party_images_are_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        image = service.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{name}: image {image!r} is not pinned to a version"


# ---------------------------------------------------------------------------------------------
# postgres, temporal, vault
# ---------------------------------------------------------------------------------------------
def test_postgres(compose: dict[str, Any], services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in _healthcheck_text(postgres)
    data_volumes = [v for v in postgres.get("volumes", []) if str(v).split(":")[1:2] == ["/var/lib/postgresql/data"]]
    assert data_volumes, "postgres data is not on a volume"
    assert str(data_volumes[0]).split(":")[0] in (compose.get("volumes") or {}), "not a named volume"

    init_mounts = [str(v) for v in postgres.get("volumes", []) if ":/docker-entrypoint-initdb.d" in str(v)]
    assert init_mounts, "no init script mounted"
    init_dir = REPO / init_mounts[0].split(":")[0]
    assert init_dir.resolve().is_relative_to(DEPLOY.resolve() / "postgres")
    init_sql = "\n".join(
        path.read_text(encoding="utf-8") for path in sorted(init_dir.iterdir()) if path.suffix in (".sh", ".sql")
    )
    for database in ("leadchain", "temporal", "temporal_visibility"):
        assert re.search(rf"CREATE DATABASE {database}\b", init_sql), f"{database} not created"


def test_temporal_runs_on_the_postgres_service(services: dict[str, Any], compose_text: str) -> None:
    temporal = services["temporal"]
    # The release image, not the dev-oriented auto-setup one (schemas and namespace at every start).
    assert re.fullmatch(r"temporalio/server:1\.2\d(\.\d+)?", temporal["image"])
    assert "auto-setup" not in "".join(str(s.get("image", "")) for s in services.values())
    assert _depends_on(temporal)["temporal-schema"] == "service_completed_successfully"
    env = _environment(temporal)
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgres"
    assert env["DB_PORT"] == "5432"
    assert env.get("SQL_HOST", "postgres") == "postgres"
    assert env.get("SQL_PLUGIN", "postgres12") == "postgres12"
    assert env["DBNAME"] == "temporal" and env["VISIBILITY_DBNAME"] == "temporal_visibility"
    assert _depends_on(temporal)["postgres"] == "service_healthy"
    health = _healthcheck_text(temporal)
    assert "operator cluster health" in health or "tctl" in health

    # The role Temporal logs in as is the one the init script creates.
    init_script = "\n".join(p.read_text(encoding="utf-8") for p in (DEPLOY / "postgres").rglob("*") if p.is_file())
    assert re.search(rf"CREATE ROLE {env['POSTGRES_USER']}\b", init_script)

    dynamic = env["DYNAMIC_CONFIG_FILE_PATH"]
    assert "development" not in dynamic, "the dev images' dynamic config name"
    mounts = [str(v) for v in temporal.get("volumes", []) if ":/etc/temporal/config/dynamicconfig" in str(v)]
    assert mounts, "dynamic config not mounted"
    host_dir = REPO / mounts[0].split(":")[0]
    assert (host_dir / Path(dynamic).name).is_file()
    yaml.safe_load((host_dir / Path(dynamic).name).read_text(encoding="utf-8"))


def test_temporal_ui_and_setup(services: dict[str, Any]) -> None:
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert _environment(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"

    setup = services["temporal-setup"]
    assert setup["image"].startswith("temporalio/admin-tools:")
    assert _depends_on(setup)["temporal"] == "service_healthy"
    script = " ".join(_argv(setup.get("entrypoint")) + [str(c) for c in setup["command"]])
    assert re.search(
        r"temporal operator search-attribute create\b.*--name LeadStage\b"
        r".*--type Keyword\b",
        script,
        re.DOTALL,
    )
    # The server image registers no namespace: the setup job does, idempotently.
    assert re.search(
        r"temporal operator namespace describe\b.*temporal operator namespace create\b"
        r".*--retention\b",
        script,
        re.DOTALL,
    )


def test_temporal_schema_is_a_one_shot_job_with_temporals_schema_tool(services: dict[str, Any]) -> None:
    job = services["temporal-schema"]
    tools_image, server_image = job["image"], services["temporal"]["image"]
    assert tools_image.startswith("temporalio/admin-tools:")
    # The schema tool and its migrations must be those of the server release that runs on them.
    assert tools_image.split(":")[1].split("-")[0] == server_image.split(":")[1]
    assert _depends_on(job)["postgres"] == "service_healthy"
    env = _environment(job)
    assert (env["SQL_PLUGIN"], env["SQL_HOST"], env["SQL_PORT"]) == ("postgres12", "postgres", "5432")
    assert env["SQL_USER"] == _environment(services["temporal"])["POSTGRES_USER"]
    assert REFERENCE.fullmatch(env["SQL_PASSWORD"])
    script = "\n".join(str(c) for c in job["command"])
    assert "temporal-sql-tool" in script
    assert re.search(r"setup-schema -v 0\.0", script) and "update-schema -d" in script
    # Both databases, each with its own versioned schema directory of the image.
    assert "temporal:temporal" in script and "temporal_visibility:visibility" in script
    assert "/etc/temporal/schema/postgresql/v12" in script and "/versioned" in script


def test_vault_runs_in_server_mode_with_file_storage(services: dict[str, Any], compose_text: str) -> None:
    vault = services["vault"]
    assert vault["image"].split(":")[0] in ("openbao/openbao", "hashicorp/vault")
    argv = _argv(vault.get("command")) + _argv(vault.get("entrypoint"))
    assert "server" in argv
    assert not any(arg.startswith("-dev") for arg in argv), "vault must not run in dev mode"
    env = _environment(vault)
    assert not any("DEV_ROOT_TOKEN" in key for key in env), "dev root token configured"
    assert vault.get("healthcheck", {}).get("test")

    configs = [
        REPO / str(v).split(":")[0]
        for v in vault.get("volumes", [])
        if str(v).split(":")[0].endswith(".hcl") and "/config" in str(v)
    ]
    assert configs, "no server config mounted"
    config = configs[0].read_text(encoding="utf-8")
    assert re.search(r'^storage "file"', config, re.MULTILINE)
    assert configs[0].resolve().is_relative_to(DEPLOY.resolve() / "vault")

    # The operator instructions live next to the service.
    assert "operator init" in compose_text and "operator unseal" in compose_text
    assert "leadchain-policy.hcl" in compose_text


def test_app_policy_grants_read_on_its_prefix_only() -> None:
    policy = (DEPLOY / "vault" / "leadchain-policy.hcl").read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in policy.splitlines())
    blocks = re.findall(r'path\s+"([^"]+)"\s*\{([^}]*)\}', code)
    assert blocks == [(blocks[0][0], blocks[0][1])] and len(blocks) == 1, blocks
    path, body = blocks[0]
    assert path == "secret/data/leadchain/*"
    capabilities = re.search(r"capabilities\s*=\s*\[([^\]]*)\]", body)
    assert capabilities is not None
    assert [c.strip().strip('"') for c in capabilities.group(1).split(",") if c.strip()] == ["read"]


# ---------------------------------------------------------------------------------------------
# application services
# ---------------------------------------------------------------------------------------------
def test_web(services: dict[str, Any]) -> None:
    web = services["web"]
    assert "build" in web
    assert _argv(web["command"]) == GUNICORN
    env = _environment(web)
    assert env["DATABASE_URL"] == "postgresql://leadchain@postgres:5432/leadchain"
    assert env["VAULT_ADDR"] == "http://vault:8200"
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "VAULT_TOKEN" in env or "VAULT_TOKEN_FILE" in env
    if "VAULT_TOKEN_FILE" in env:
        secret = Path(env["VAULT_TOKEN_FILE"]).name
        assert env["VAULT_TOKEN_FILE"] == f"/run/secrets/{secret}"
        assert secret in [s if isinstance(s, str) else s["source"] for s in web.get("secrets", [])]
    assert _depends_on(web)["migrate"] == "service_completed_successfully"
    health = _healthcheck_text(web)
    # Liveness, not readiness: /healthz does no I/O, so a database outage does not restart the web.
    assert "http://localhost:8000/healthz" in health and "urllib" in health and "readyz" not in health
    assert web.get("stop_grace_period") == "30s"
    assert _depends_on(web)["redis"] == "service_healthy"


def test_gunicorn_timeouts_are_consistent(services: dict[str, Any]) -> None:
    """The worker timeout lies above every bounded dependency wait of a request (so a hung database is
    a 503 from the app, not a killed worker), and the graceful timeout inside the stop grace period."""
    from crm.config import Settings

    web = services["web"]
    argv = _argv(web["command"])
    worker_timeout = int(argv[argv.index("--timeout") + 1])
    graceful = _environment(web)["GUNICORN_CMD_ARGS"].split()
    graceful_timeout = int(graceful[graceful.index("--graceful-timeout") + 1])
    grace = int(web["stop_grace_period"].rstrip("s"))
    bounds = Settings().database
    longest_statement = bounds.statement_timeout_ms / 1000 + 1 + bounds.connect_timeout_s + bounds.pool_timeout_s
    assert longest_statement < worker_timeout
    assert Settings().temporal_rpc_timeout_s + 0.25 < worker_timeout
    assert graceful_timeout < grace


def test_rate_limits_are_shared_in_redis(services: dict[str, Any]) -> None:
    redis = services["redis"]
    assert "redis-cli" in _healthcheck_text(redis) and not redis.get("ports")  # internal only
    assert _example_settings()["LEADCHAIN_RATELIMIT_STORAGE"] == "redis://redis:6379/0"


def test_migrate(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert _argv(migrate["command"]) == ["leadchain", "db-upgrade"]
    assert migrate.get("image") == services["web"].get("image")
    assert _depends_on(migrate)["postgres"] == "service_healthy"
    assert _environment(migrate)["DATABASE_URL"] == _environment(services["web"])["DATABASE_URL"]


@pytest.mark.parametrize("name", WORKERS)
def test_worker(services: dict[str, Any], name: str) -> None:
    worker = services[f"worker-{name}"]
    assert _argv(worker["command"]) == ["leadchain", "worker", name]
    assert worker.get("image") == services["web"].get("image")
    assert worker.get("build") == services["web"].get("build")
    assert worker.get("restart") == "unless-stopped"
    assert worker.get("stop_grace_period") == "30s"
    deps = _depends_on(worker)
    assert deps.get("temporal") == "service_healthy"
    assert deps.get("migrate") == "service_completed_successfully"
    health = _healthcheck_text(worker)
    if name == "voice-bridge":
        assert "http://localhost:8081/healthz" in health
        assert any(str(port).split(":")[-1].split("/")[0] == "8081" for port in worker.get("ports", []))
    else:
        assert _argv(worker["healthcheck"]["test"]) == ["CMD", "leadchain", "worker-health", name]


def test_workers_share_one_environment(services: dict[str, Any], compose: dict[str, Any]) -> None:
    envs = {name: _environment(services[f"worker-{name}"]) for name in WORKERS}
    base = envs["chain"]
    for name, env in envs.items():
        assert {k: v for k, v in env.items() if k in base} == base, name
    web_env = _environment(services["web"])
    assert {k: web_env[k] for k in base} == base
    assert any(key.startswith("x-") for key in compose), "shared blocks are not x- extensions"


# ---------------------------------------------------------------------------------------------
# secrets
# ---------------------------------------------------------------------------------------------
def test_secret_checker_has_teeth() -> None:
    assert literal_secrets({"DB_PASSWORD": "hunter2"}) == ["DB_PASSWORD"]
    assert literal_secrets({"API_KEY": "${API_KEY:-hunter2}"}) == ["API_KEY"]
    assert literal_secrets({"URL": "postgresql://u:hunter2@db/x"}) == ["URL"]
    assert (
        literal_secrets(
            {
                "DB_PASSWORD": "${DB_PASSWORD:?set it}",
                "TOKEN": "${TOKEN}",
                "VAULT_TOKEN_FILE": "/run/secrets/vault_token",
                "URL": "postgresql://u:${PW:?x}@db/x",
                "DATABASE_URL": "postgresql://leadchain@postgres:5432/leadchain",
            }
        )
        == []
    )


def test_no_literal_secret_in_any_environment(services: dict[str, Any]) -> None:
    for name, service in services.items():
        bad = literal_secrets(_environment(service))
        assert not bad, f"{name}: literal secret value for {bad}"


def test_no_secret_shaped_string_in_the_file(compose_text: str) -> None:
    for label, pattern in SECRET_SHAPES.items():
        assert not pattern.search(compose_text), f"{label} in docker-compose.yml"


def test_docker_secrets_come_from_files(compose: dict[str, Any]) -> None:
    for name, spec in (compose.get("secrets") or {}).items():
        assert set(spec) <= {"file", "external", "name"}, f"secret {name}: {spec}"
    gitignore = DEPLOY / "secrets" / ".gitignore"
    assert gitignore.is_file() and "*" in gitignore.read_text(encoding="utf-8").split()


# ---------------------------------------------------------------------------------------------
# image
# ---------------------------------------------------------------------------------------------
def test_dockerfile() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert froms and all(image.startswith("python:3.11-slim") for image in froms), froms
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "fonts-dejavu-core"):
        assert re.search(rf"\b{re.escape(package)}\b", text), package
    assert re.search(r"pip install --no-cache-dir \.(\s*\\)?\s*$", text, re.MULTILINE)  # maybe a continued RUN
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "image runs as root"
    cmd = re.findall(r"^CMD\s+(.+)$", text, re.MULTILINE)
    assert cmd and yaml.safe_load(cmd[-1]) == GUNICORN


def test_dockerignore() -> None:
    entries = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", "var", ".git", ".pytest_cache", ".hypothesis", "artifacts"):
        assert required in entries, required
    assert "deploy" in entries or "deploy/secrets" in entries, "secrets could enter the image"
    assert "README.md" not in entries and "setup.cfg" not in entries


# ---------------------------------------------------------------------------------------------
# app settings, auto-unseal, housekeeping, backups, metrics (issue 12)
# ---------------------------------------------------------------------------------------------
def _example_settings() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and key == key.strip() and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), line
            pairs[key] = value
    return pairs


def test_app_services_read_the_settings_file(services: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        assert services[name].get("env_file") == ["${LEADCHAIN_ENV_FILE:-./deploy/leadchain.env}"], name
    gitignore = (DEPLOY / ".gitignore").read_text(encoding="utf-8").split()
    assert "leadchain.env" in gitignore, "a host's settings file could be committed"


def test_the_example_settings_are_documented_app_settings_and_no_secrets() -> None:
    settings = _example_settings()
    for wanted in (
        "LEADCHAIN_PUBLIC_URL",
        "LEADCHAIN_PROXY_HOPS",
        "LEADCHAIN_RATELIMIT_STORAGE",
        "LEADCHAIN_EMAIL_FROM",
        "LEADCHAIN_COMPANY_NAME",
        "LEADCHAIN_COMPANY_ADDRESS",
    ):
        assert settings.get(wanted), f"{wanted} missing from {ENV_EXAMPLE.name}"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    code = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "crm").rglob("*.py"))
    for key in settings:
        assert not SECRET_KEY_NAME.search(key), f"{key}: secrets belong in OpenBao, not the settings file"
        # A name nobody reads would be a silent typo.
        assert key in code or key in readme or key in (REPO / "docker-compose.yml").read_text(), key
    for pattern in SECRET_SHAPES.values():
        assert not pattern.search(ENV_EXAMPLE.read_text(encoding="utf-8"))


def test_settings_reach_the_app_containers_and_a_missing_file_is_refused(tmp_path: Path) -> None:
    result = _run_compose("-f", "docker-compose.yml", "config", env=_env())
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    settings = _example_settings()
    for name in APP_SERVICES:
        env = _environment(resolved[name])
        assert env["LEADCHAIN_PUBLIC_URL"] == settings["LEADCHAIN_PUBLIC_URL"], name
        assert env["LEADCHAIN_PROXY_HOPS"] == settings["LEADCHAIN_PROXY_HOPS"], name
        # The compose file's own values win over the settings file (e.g. Vault, database).
        assert env["VAULT_ADDR"] == "http://vault:8200", name
    missing = _run_compose(
        "-f", "docker-compose.yml", "config", "-q", env=_env(LEADCHAIN_ENV_FILE=str(tmp_path / "leadchain.env"))
    )
    assert missing.returncode != 0 and "leadchain.env" in missing.stderr + missing.stdout


def test_openbao_unseals_itself_with_a_static_key_from_a_docker_secret(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    config = (DEPLOY / "vault" / "openbao.hcl").read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in config.splitlines())
    seal = re.search(r'seal\s+"static"\s*\{([^}]*)\}', code)
    assert seal, "no auto-unseal seal stanza"
    key = re.search(r'current_key\s*=\s*"file://(/run/secrets/([a-z_]+))"', seal.group(1))
    assert key and re.search(r'current_key_id\s*=\s*"[^"]+"', seal.group(1))
    secret = key.group(2)
    assert secret in services["vault"].get("secrets", [])
    source = compose["secrets"][secret]["file"]
    assert "deploy/secrets/" in source, "the key file must live in the git-ignored secrets directory"
    # Only OpenBao gets the key.
    for name, service in services.items():
        if name != "vault":
            assert secret not in [s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])]
    guide = (DEPLOY / "vault" / "README.md").read_text(encoding="utf-8")
    assert "openssl rand" in guide and "operator unseal -migrate" in guide and "recovery" in guide.lower()


def test_purge_runs_both_purges_on_a_schedule(services: dict[str, Any]) -> None:
    from workers.cli import main as cli

    purge = services["purge"]
    script = "\n".join(str(part) for part in purge["command"])
    commands = re.findall(r"leadchain ([a-z-]+)", script)
    assert commands == ["purge-sessions", "purge-deliveries"]
    assert all(name in cli.commands for name in commands)
    assert re.search(r"while :; do", script) and "sleep" in script and "LEADCHAIN_PURGE_INTERVAL_S" in script
    assert purge.get("image") == services["web"].get("image")
    assert _environment(purge) == _environment(services["worker-chain"])
    deps = _depends_on(purge)
    assert deps["migrate"] == "service_completed_successfully" and deps["vault"] == "service_healthy"
    assert "/tmp/last-purge-ok" in script and "/tmp/last-purge-ok" in _healthcheck_text(purge)


def test_postgres_is_backed_up_daily_to_a_volume(compose: dict[str, Any], services: dict[str, Any]) -> None:
    backup = services["postgres-backup"]
    assert backup["image"] == services["postgres"]["image"], "pg_dump of the server's major version"
    assert _depends_on(backup)["postgres"] == "service_healthy"
    env = _environment(backup)
    assert env["PGHOST"] == "postgres" and REFERENCE.fullmatch(env["PGPASSWORD"])
    volume = [str(v) for v in backup.get("volumes", []) if str(v).endswith(":/backups")]
    assert volume and volume[0].split(":")[0] in (compose.get("volumes") or {})
    assert volume[0].split(":")[0] != "postgres-data"
    script = "\n".join(str(part) for part in backup["command"])
    init_sql = (DEPLOY / "postgres" / "initdb.d" / "10-databases.sh").read_text(encoding="utf-8")
    databases = re.findall(r"CREATE DATABASE (\w+)", init_sql)
    assert set(databases) == {"leadchain", "temporal", "temporal_visibility"}
    loop = re.search(r"for db in ([\w ]+); do", script)
    assert loop and set(loop.group(1).split()) == set(databases)
    assert "pg_dump --format=custom" in script and "pg_dumpall --globals-only" in script
    assert "sleep" in script and "-mtime" in script and "/backups/.last-ok" in _healthcheck_text(backup)


def test_prometheus_scrapes_the_services_that_export_metrics(compose: dict[str, Any], services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    mounts = [str(v) for v in prometheus.get("volumes", []) if str(v).endswith(":/etc/prometheus/prometheus.yml:ro")]
    assert mounts, "no config mounted"
    config_path = REPO / mounts[0].split(":")[0]
    assert config_path.resolve().is_relative_to(DEPLOY.resolve() / "prometheus")
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    temporal_port = _environment(services["temporal"])["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]
    bridge_port = _environment(services["worker-voice-bridge"])["LEADCHAIN_BRIDGE_METRICS_PORT"]
    assert f"temporal:{temporal_port}" in targets
    assert f"worker-voice-bridge:{bridge_port}" in targets
    for target in targets - {"127.0.0.1:9090"}:
        assert target.split(":")[0] in services, target
    # No login on Prometheus: published on loopback only, data on a named volume.
    assert all(str(port).startswith("127.0.0.1:") for port in prometheus.get("ports", []))
    assert any(str(v).split(":")[0] in (compose.get("volumes") or {}) for v in prometheus.get("volumes", []))


def test_observability_stack(compose: dict[str, Any], services: dict[str, Any]) -> None:
    """Grafana with provisioned data source and dashboard, the OpenTelemetry collector the app sends to,
    Prometheus with the alert rules (docs/observability.md; the rules themselves: tests/observability)."""
    grafana, collector, prometheus = services["grafana"], services["otel-collector"], services["prometheus"]
    mounts = {str(v).split(":")[1]: REPO / str(v).split(":")[0] for v in grafana["volumes"] if str(v).startswith("./")}
    assert (mounts["/etc/grafana/provisioning"] / "datasources" / "prometheus.yml").is_file()
    dashboards = json.loads((mounts["/var/lib/grafana/dashboards"] / "leadchain.json").read_text(encoding="utf-8"))
    assert dashboards["panels"] and all(p["targets"] for p in dashboards["panels"])
    assert all(str(port).startswith("127.0.0.1:") for port in grafana.get("ports", []))
    assert _environment(grafana)["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert "grafana_admin_password" in compose["secrets"]
    config = [str(v) for v in collector["volumes"] if str(v).endswith(":/etc/otelcol/collector.yml:ro")]
    assert config and (REPO / config[0].split(":")[0]).is_file() and not collector.get("ports")
    for name in ("web", *(f"worker-{w}" for w in WORKERS)):
        assert _environment(services[name])["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318", name
    assert any(str(v).endswith(":/etc/prometheus/alerts.yml:ro") for v in prometheus["volumes"])
    # The web logs requests itself (redacted JSON); gunicorn's access log would print raw query strings.
    assert "--access-logfile" not in _environment(services["web"])["GUNICORN_CMD_ARGS"]
    assert _environment(services["web"])["PROMETHEUS_MULTIPROC_DIR"] in services["web"].get("tmpfs", [])
