"""crm.secrets against environment variables and a real OpenBao dev server (no mocks).

Covers docs/compliance.md §S12 (least privilege, rotation, no secrets in messages) and docs/reliability.md §F12
(Vault down: cached values served, new fetches fail closed, no secrets in logs).
"""

from __future__ import annotations

import logging
import secrets as stdlib_secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hvac.exceptions
import pytest

from crm.secrets import (
    EnvSecrets,
    Secrets,
    SecretsError,
    VaultSecrets,
    secrets_from_env,
)

if TYPE_CHECKING:
    from tests.openbao import OpenBaoServer

# The openbao / openbao_private fixtures; registered as a plugin rather than imported by name
# so linters do not see the fixture parameters as redefinitions of unused imports.
pytest_plugins = ["tests.openbao"]

TTL = 60.0
LEADCHAIN_READ_POLICY = 'path "secret/data/leadchain/*" { capabilities = ["read"] }'


class FakeClock:
    """Injected into VaultSecrets so cache expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def unique(label: str) -> str:
    # The session server is shared, so every test writes its own group.
    return f"{label}-{stdlib_secrets.token_hex(4)}"


def secret_value() -> str:
    return f"s3cr3t-{stdlib_secrets.token_hex(12)}"


def assert_clean(text: str, *forbidden: str) -> None:
    for item in forbidden:
        assert item not in text, "secret material leaked into a message, repr or log"


# --- EnvSecrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "var"),
    [
        ("webhooks/leads-website", "LEADCHAIN_SECRET_WEBHOOKS_LEADS_WEBSITE"),
        ("api/keys", "LEADCHAIN_SECRET_API_KEYS"),
        ("app/secret-key", "LEADCHAIN_SECRET_APP_SECRET_KEY"),
        ("providers/retell-api-key", "LEADCHAIN_SECRET_PROVIDERS_RETELL_API_KEY"),
        ("smtp.v2/pass_word", "LEADCHAIN_SECRET_SMTP_V2_PASS_WORD"),
    ],
)
def test_env_name_mapping(name: str, var: str) -> None:
    value = secret_value()
    env = EnvSecrets({var: value})
    assert EnvSecrets.env_var(name) == var
    assert env.get(name) == value
    assert env.require(name) == value


def test_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    value = secret_value()
    monkeypatch.setenv("LEADCHAIN_SECRET_APP_SECRET_KEY", value)
    env = EnvSecrets()
    assert env.get("app/secret-key") == value
    assert isinstance(env, Secrets)
    assert_clean(repr(env), value)


def test_env_empty_string_is_unset() -> None:
    env = EnvSecrets({"LEADCHAIN_SECRET_APP_SECRET_KEY": ""})
    assert env.get("app/secret-key") is None
    assert env.get_list("app/secret-key") == []
    with pytest.raises(SecretsError):
        env.require("app/secret-key")


def test_env_get_list_rotation() -> None:
    env = EnvSecrets(
        {
            "LEADCHAIN_SECRET_WEBHOOKS_LEADS_WEBSITE": " new-key, old-key\n\told-key ,,new-key  last ",
            "LEADCHAIN_SECRET_API_KEYS": "single",
        }
    )
    assert env.get_list("webhooks/leads-website") == ["new-key", "old-key", "last"]
    assert env.get_list("api/keys") == ["single"]
    assert env.get_list("api/missing") == []


def test_env_require_names_secret_not_value() -> None:
    other = secret_value()
    env = EnvSecrets({"LEADCHAIN_SECRET_APP_OTHER": other})
    with pytest.raises(SecretsError) as excinfo:
        env.require("app/secret-key")
    assert str(excinfo.value) == "secret app/secret-key is not set"
    assert_clean(str(excinfo.value), other)


BAD_NAMES = [
    "../x",
    "a/b/c",
    "A/b",
    "",
    "a",
    "a/",
    "/b",
    "a/../b",
    "../../sys/x",
    ".a/b",
    "a/.b",
    "a/b\n",
    "a b/c",
    "a/b?c",
    "a\\b/c",
    "a/-b",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_raise_value_error(name: str) -> None:
    backends: list[Secrets] = [
        EnvSecrets({}),
        # Validation happens before any network access, so no server is needed here.
        VaultSecrets("http://127.0.0.1:9", "not-a-real-token"),
    ]
    for backend in backends:
        for method in (backend.get, backend.get_list, backend.require):
            with pytest.raises(ValueError):
                method(name)


# --- VaultSecrets against a real OpenBao ----------------------------------------------------


def test_vault_reads_written_secret(openbao: OpenBaoServer) -> None:
    group, value = unique("webhooks"), secret_value()
    openbao.write(f"leadchain/{group}", {"leads-website": value})
    vault = VaultSecrets(openbao.url, openbao.root_token)
    assert isinstance(vault, Secrets)
    assert vault.get(f"{group}/leads-website") == value
    assert vault.require(f"{group}/leads-website") == value
    assert_clean(repr(vault), openbao.root_token, value)
    assert_clean(str(vars(vault)), openbao.root_token)


def test_vault_missing_key_path_and_empty_are_none(openbao: OpenBaoServer) -> None:
    group = unique("app")
    openbao.write(f"leadchain/{group}", {"present": "x", "blank": ""})
    vault = VaultSecrets(openbao.url, openbao.root_token)
    assert vault.get(f"{group}/absent") is None
    assert vault.get(f"{group}/blank") is None
    assert vault.get(f"{unique('nopath')}/key") is None
    assert vault.get_list(f"{unique('nopath')}/key") == []
    with pytest.raises(SecretsError) as excinfo:
        vault.require(f"{group}/absent")
    assert str(excinfo.value) == f"secret {group}/absent is not set"


def test_vault_deleted_latest_version_is_none(openbao: OpenBaoServer) -> None:
    group = unique("app")
    openbao.write(f"leadchain/{group}", {"k": "v"})
    openbao.client().secrets.kv.v2.delete_latest_version_of_secret(path=f"leadchain/{group}", mount_point="secret")
    assert VaultSecrets(openbao.url, openbao.root_token).get(f"{group}/k") is None


def test_vault_get_list_rotation(openbao: OpenBaoServer) -> None:
    group, new, old = unique("webhooks"), secret_value(), secret_value()
    openbao.write(f"leadchain/{group}", {"leads-website": f"{new},{old} {new}"})
    vault = VaultSecrets(openbao.url, openbao.root_token)
    assert vault.get_list(f"{group}/leads-website") == [new, old]


def test_vault_non_string_value_is_error_without_value(openbao: OpenBaoServer) -> None:
    group = unique("app")
    openbao.write(f"leadchain/{group}", {"port": 987654321})
    with pytest.raises(SecretsError) as excinfo:
        VaultSecrets(openbao.url, openbao.root_token).get(f"{group}/port")
    assert_clean(str(excinfo.value), "987654321", openbao.root_token)


def test_vault_cache_respects_ttl(openbao: OpenBaoServer) -> None:
    group, first, second = unique("api"), secret_value(), secret_value()
    openbao.write(f"leadchain/{group}", {"keys": first})
    clock = FakeClock()
    vault = VaultSecrets(openbao.url, openbao.root_token, ttl_s=TTL, clock=clock)
    assert vault.get(f"{group}/keys") == first

    openbao.write(f"leadchain/{group}", {"keys": second})
    clock.advance(TTL - 1)
    assert vault.get(f"{group}/keys") == first  # still cached
    clock.advance(2)
    assert vault.get(f"{group}/keys") == second  # past the TTL: refetched


def test_vault_down_serves_stale_and_fails_closed(
    openbao_private: OpenBaoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # capture hvac/urllib3 too: nothing may leak anywhere
    server = openbao_private
    cached, never_read = secret_value(), secret_value()
    server.write("leadchain/webhooks", {"leads-website": cached})
    server.write("leadchain/providers", {"retell-api-key": never_read})
    clock = FakeClock()
    vault = VaultSecrets(server.url, server.root_token, ttl_s=TTL, timeout_s=2, clock=clock)
    assert vault.get("webhooks/leads-website") == cached

    server.stop()
    clock.advance(TTL + 1)
    assert vault.get("webhooks/leads-website") == cached  # stale, still served
    assert vault.get_list("webhooks/leads-website") == [cached]  # retry backed off: no 2nd
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "crm.secrets"]
    assert len(warnings) == 1
    assert "serving cached" in warnings[0].getMessage()

    with pytest.raises(SecretsError) as excinfo:
        vault.get("providers/retell-api-key")  # never fetched: fail closed
    assert "unavailable" in str(excinfo.value)
    assert_clean(str(excinfo.value), server.root_token, never_read, cached)
    assert_clean(repr(excinfo.value), server.root_token, never_read, cached)
    assert_clean(caplog.text, server.root_token, cached, never_read)
    assert_clean(repr(vault), server.root_token, cached)


def test_least_privilege_token(openbao: OpenBaoServer) -> None:
    group, mine, theirs = unique("api"), secret_value(), secret_value()
    openbao.write(f"leadchain/{group}", {"keys": mine})
    openbao.write(f"other/{group}", {"keys": theirs})
    token = openbao.policy_token(LEADCHAIN_READ_POLICY)

    app = VaultSecrets(openbao.url, token)
    assert app.get(f"{group}/keys") == mine

    foreign = VaultSecrets(openbao.url, token, prefix="other")
    with pytest.raises(SecretsError) as excinfo:
        foreign.get(f"{group}/keys")
    assert "permission denied" in str(excinfo.value)
    assert_clean(str(excinfo.value), token, theirs, openbao.root_token)
    assert_clean(repr(foreign), token)

    # The same token cannot write, not even under its own prefix.
    with pytest.raises(hvac.exceptions.Forbidden):
        openbao.client(token).secrets.kv.v2.create_or_update_secret(
            path=f"leadchain/{group}", secret={"keys": "x"}, mount_point="secret"
        )


def test_revoked_access_is_not_served_from_cache(openbao: OpenBaoServer) -> None:
    group, value = unique("api"), secret_value()
    openbao.write(f"leadchain/{group}", {"keys": value})
    token = openbao.policy_token(LEADCHAIN_READ_POLICY)
    policy = openbao.client(token).auth.token.lookup_self()["data"]["policies"]
    name = next(p for p in policy if p.startswith("test-"))
    clock = FakeClock()
    vault = VaultSecrets(openbao.url, token, ttl_s=TTL, clock=clock)
    assert vault.get(f"{group}/keys") == value

    openbao.set_policy(name, 'path "secret/data/nothing/*" { capabilities = ["read"] }')
    clock.advance(TTL + 1)
    for _ in range(2):  # the 403 also evicted the cached group
        with pytest.raises(SecretsError, match="permission denied") as excinfo:
            vault.get(f"{group}/keys")
        assert_clean(str(excinfo.value), token, value)


def test_bad_token_is_error_without_token(openbao: OpenBaoServer) -> None:
    bogus = f"hvs.{stdlib_secrets.token_hex(16)}"
    vault = VaultSecrets(openbao.url, bogus)
    with pytest.raises(SecretsError) as excinfo:
        vault.get("app/secret-key")
    assert_clean(str(excinfo.value), bogus)
    assert_clean(repr(vault), bogus)


@pytest.mark.parametrize(
    "kwargs", [{"mount": "../sys"}, {"prefix": "../sys"}, {"prefix": "a//b"}, {"mount": ""}, {"ttl_s": -1}]
)
def test_vault_malformed_config(kwargs: dict[str, Any]) -> None:
    with pytest.raises(SecretsError):
        VaultSecrets("http://127.0.0.1:9", "tok", **kwargs)


# --- secrets_from_env -------------------------------------------------------------------------


def test_from_env_without_vault_addr_is_env_backend() -> None:
    value = secret_value()
    backend = secrets_from_env({"LEADCHAIN_SECRET_APP_SECRET_KEY": value, "VAULT_ADDR": ""})
    assert isinstance(backend, EnvSecrets)
    assert backend.get("app/secret-key") == value


def test_from_env_with_vault_token(openbao: OpenBaoServer) -> None:
    group, value = unique("app"), secret_value()
    openbao.write(f"leadchain/{group}", {"secret-key": value})
    backend = secrets_from_env(
        {
            "VAULT_ADDR": openbao.url,
            "VAULT_TOKEN": openbao.root_token,
            f"LEADCHAIN_SECRET_{group.upper()}_SECRET_KEY": "from-env",
        }
    )
    assert isinstance(backend, VaultSecrets)
    assert backend.get(f"{group}/secret-key") == value
    assert_clean(repr(backend), openbao.root_token)


def test_from_env_token_file_mount_and_prefix(openbao: OpenBaoServer, tmp_path: Path) -> None:
    group, value = unique("api"), secret_value()
    openbao.write(f"tenant-a/{group}", {"keys": value})
    token_file = tmp_path / "token"
    token_file.write_text(openbao.policy_token('path "secret/data/tenant-a/*" { capabilities = ["read"] }') + "\n")
    backend = secrets_from_env(
        {
            "VAULT_ADDR": openbao.url,
            "VAULT_TOKEN_FILE": str(token_file),
            "VAULT_MOUNT": "secret",
            "VAULT_PREFIX": "tenant-a",
        }
    )
    assert isinstance(backend, VaultSecrets)
    assert backend.get(f"{group}/keys") == value


def test_from_env_vault_without_token_raises(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match="VAULT_TOKEN"):
        secrets_from_env({"VAULT_ADDR": "http://127.0.0.1:8200"})
    with pytest.raises(SecretsError):
        secrets_from_env({"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_TOKEN": "  "})
    with pytest.raises(SecretsError):
        secrets_from_env({"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_TOKEN_FILE": str(tmp_path / "missing")})
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(SecretsError):
        secrets_from_env({"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_TOKEN_FILE": str(empty)})


def test_from_env_rejects_credentials_in_vault_addr() -> None:
    password = secret_value()
    for addr in (
        f"http://user:{password}@127.0.0.1:8200",
        f"http://127.0.0.1:8200/?t={password}",
        "127.0.0.1:8200",
        "ftp://127.0.0.1",
    ):
        with pytest.raises(SecretsError) as excinfo:
            secrets_from_env({"VAULT_ADDR": addr, "VAULT_TOKEN": "tok"})
        assert_clean(str(excinfo.value), password)
