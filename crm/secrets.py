"""Secrets for leadchain: Vault/OpenBao KV v2 in production, environment variables otherwise.

docs/compliance.md §S12 (ASVS 13.3.1/13.3.2): secrets live in a secrets manager and the app's token is
limited by policy to its own prefix, so every lookup goes through one validated name format
("group/key") that can never be turned into a different Vault path.

docs/reliability.md §F12: when Vault is unavailable, values already fetched keep being served (stale),
values never fetched fail closed with SecretsError, and nothing secret reaches logs or error
messages.

Usage::

    secrets = secrets_from_env()
    signing_keys = secrets.get_list(secret_names.lead_webhook("website"))   # rotation: two active keys
    app_key = secrets.require(secret_names.APP_SECRET_KEY)
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import hvac
import hvac.exceptions
import requests.exceptions

from crm.config import var_dir

__all__ = [
    "EnvSecrets",
    "Secrets",
    "SecretsError",
    "VaultSecrets",
    "load_local_stack_secrets",
    "read_local_secrets_file",
    "secrets_from_env",
]

log = logging.getLogger(__name__)

# fullmatch (not match + "$") so a trailing newline cannot slip through; the first character
# may not be "." so ".." and "." are impossible as path segments.
_SEGMENT = re.compile(r"[a-z0-9][a-z0-9\-_.]*")
# Rotation lists are written by humans into one string; accept any mix of commas and whitespace.
# A company's secrets: "companies/<id>/<group>[/<subgroup>]/<key>" (lead sources, provider accounts), the one
# nested shape accepted; each part a plain segment, so no other Vault path is reachable.
_COMPANY_NAME = re.compile(r"companies/[1-9][0-9]{0,9}(/[a-z0-9][a-z0-9\-_.]*){2,3}")
_LIST_SEPARATORS = re.compile(r"[\s,]+")
_ENV_UNSAFE = re.compile(r"[^A-Z0-9]")
ENV_PREFIX = "LEADCHAIN_SECRET_"


class SecretsError(RuntimeError):
    """Secrets backend unreachable with nothing cached, access denied, or malformed config.

    The message never contains a secret value or the Vault token: it names only the secret,
    the Vault path or the kind of failure, because these errors end up in logs.
    """


@runtime_checkable
class Secrets(Protocol):
    """What the rest of the app depends on; both backends implement it."""

    def get(self, name: str) -> str | None:
        """Return the secret, or None when it is not set (missing or empty)."""
        ...

    def get_list(self, name: str) -> list[str]:
        """Return several values (rotation), stored as one string split on whitespace/commas."""
        ...

    def require(self, name: str) -> str:
        """Return the secret or raise SecretsError("secret <name> is not set")."""
        ...


def _split_name(name: str) -> tuple[str, str]:
    """Validate "group/key" and return its parts.

    Raises ValueError rather than SecretsError: a bad name is a programming error, and refusing
    it here is what stops a caller from reaching other Vault paths ("../x", "a/b/c").
    """
    if not isinstance(name, str):
        raise ValueError("secret name must be a string")
    if _COMPANY_NAME.fullmatch(name):
        # A company's own secret (docs/tenancy.md rule 5): the group is the company's path.
        group, _, key = name.rpartition("/")
        return group, key
    parts = name.split("/")
    if len(parts) != 2 or not all(_SEGMENT.fullmatch(part) for part in parts):
        # repr() so control characters in a bad name cannot forge log lines.
        raise ValueError(
            f"invalid secret name {name!r}: expected 'group/key' with lower-case letters, digits, '-', '_' or '.'"
        )
    return parts[0], parts[1]


def _split_list(value: str | None) -> list[str]:
    if not value:
        return []
    # dict.fromkeys dedupes while keeping the first occurrence's position (current key first).
    return list(dict.fromkeys(item for item in _LIST_SEPARATORS.split(value) if item))


class _SecretsBase:
    """get_list/require in terms of get, so both backends behave identically."""

    def get(self, name: str) -> str | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def get_list(self, name: str) -> list[str]:
        return _split_list(self.get(name))

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SecretsError(f"secret {name} is not set")
        return value


class EnvSecrets(_SecretsBase):
    """Secrets from environment variables: "group/key" -> LEADCHAIN_SECRET_GROUP_KEY.

    For development and tests; production uses VaultSecrets. The mapping is read on every call
    (no copy), so a test can change os.environ and see the change.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ: Mapping[str, str] = os.environ if environ is None else environ

    @staticmethod
    def env_var(name: str) -> str:
        """The environment variable that holds secret `name`."""
        group, key = _split_name(name)
        return ENV_PREFIX + _ENV_UNSAFE.sub("_", f"{group}_{key}".upper())

    def get(self, name: str) -> str | None:
        value = self._environ.get(self.env_var(name))
        # An empty variable is how shells and compose files "unset" things; treat it as missing
        # so require() fails instead of signing with an empty key.
        return value or None

    def put(self, name: str, value: str) -> None:
        """Replace a secret that the app itself rotates (a calendar's OAuth refresh token); only a mutable
        mapping can take it (the process environment: until the process ends)."""
        if not isinstance(self._environ, MutableMapping):
            raise SecretsError(f"secret {name} cannot be written: the environment mapping is read-only")
        self._environ[self.env_var(name)] = value

    def __repr__(self) -> str:
        # Never the values: a repr lands in tracebacks and debug logs.
        source = "os.environ" if self._environ is os.environ else "<mapping>"
        return f"{type(self).__name__}(environ={source})"


@dataclass
class _CachedGroup:
    data: dict[str, Any]
    fetched_at: float
    # When to ask Vault again: fetched_at + ttl normally, pushed back after a failed refresh so
    # an outage costs one Vault timeout (and one warning) per backoff period, not per request.
    refresh_at: float


# Upper bound on how long a stale group is served before Vault is tried again.
STALE_RETRY_S = 5.0


# Failures where Vault may well come back and the last known value is still the right one.
_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    hvac.exceptions.InternalServerError,
    hvac.exceptions.BadGateway,
    hvac.exceptions.VaultDown,  # 503: sealed or standby without forwarding
    hvac.exceptions.RateLimitExceeded,  # 429
    hvac.exceptions.PreconditionFailed,  # 412: replica not caught up yet
)


class VaultSecrets(_SecretsBase):
    """Secrets from a KV v2 mount: "group/key" -> <mount>/data/<prefix>/<group>, field <key>.

    Each group is cached for ttl_s seconds. On transient Vault failures a cached group is
    served even when expired (F12: keep running on known values, but never invent new ones),
    and Vault is retried at most every min(ttl_s, STALE_RETRY_S) seconds while that lasts.
    A 403 is never answered from cache, because it means our access was revoked.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        mount: str = "secret",
        prefix: str = "leadchain",
        ttl_s: float = 60.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_url(url)
        if not token:
            raise SecretsError("vault token is empty")
        if not _SEGMENT.fullmatch(mount):
            raise SecretsError(f"invalid vault mount {mount!r}")
        # The prefix may be nested ("apps/leadchain") but each segment must be a plain name.
        if not prefix or not all(_SEGMENT.fullmatch(part) for part in prefix.split("/")):
            raise SecretsError(f"invalid vault prefix {prefix!r}")
        if ttl_s < 0 or timeout_s <= 0:
            raise SecretsError("ttl_s must be >= 0 and timeout_s > 0")
        self.url = url
        self.mount = mount
        self.prefix = prefix
        self.ttl_s = float(ttl_s)
        self.timeout_s = float(timeout_s)
        self._clock = clock
        # The token lives only inside the hvac client; no attribute of ours holds it, so it
        # cannot leak through repr(), vars() dumps or error messages built from our fields.
        # hvac hands the timeout to requests, which takes seconds as a float; the stub's `int` is narrower
        # than the runtime, and rounding would change the configured timeout.
        self._client = hvac.Client(url=url, token=token, timeout=timeout_s)  # type: ignore[arg-type]
        self._cache: dict[str, _CachedGroup] = {}
        # Flask/gunicorn threads share one instance; the lock guards only the dict, never the
        # network call, so a slow Vault does not serialise reads of already-cached groups.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url={self.url!r}, mount={self.mount!r}, "
            f"prefix={self.prefix!r}, ttl_s={self.ttl_s!r})"
        )

    def _path(self, group: str) -> str:
        return f"{self.prefix}/{group}"

    def get(self, name: str) -> str | None:
        group, key = _split_name(name)
        value = self._group(group).get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            # KV v2 stores JSON, so a number or object is possible; it is a config mistake and
            # the value itself must not appear in the message.
            raise SecretsError(f"secret {name} is not a string in vault ({self.mount}/{self._path(group)})")
        return value

    def put(self, name: str, value: str) -> None:
        """Replace one key of a group (a calendar's rotated OAuth refresh token); the other keys stay. Needs
        read, create and update on the group's path (the app's policy must grant them for
        companies/*/calendars/*)."""
        group, key = _split_name(name)
        path, where = self._path(group), f"{self.mount}/{self._path(group)}"
        kv = self._client.secrets.kv.v2
        try:
            try:
                current = kv.read_secret_version(path=path, mount_point=self.mount, raise_on_deleted_version=True)
                data, version = dict(current["data"]["data"] or {}), int(current["data"]["metadata"]["version"])
            except hvac.exceptions.InvalidPath:  # no version yet: the first write creates it
                data, version = {}, 0
            # cas: a concurrent writer of the same group makes this write fail instead of undoing theirs.
            kv.create_or_update_secret(path=path, secret={**data, key: value}, cas=version, mount_point=self.mount)
        except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
            raise SecretsError(f"vault error ({type(exc).__name__}) writing {where}") from None
        with self._lock:
            self._cache.pop(group, None)

    def _group(self, group: str) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group)
        if cached is not None and now < cached.refresh_at:
            return cached.data

        path = self._path(group)
        where = f"{self.mount}/{path}"
        try:
            response = self._client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=self.mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            # Missing (or latest version deleted): "not set". Cached like any answer so a
            # missing optional secret does not cost a Vault round trip per request.
            data: dict[str, Any] = {}
        except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized):
            # Revoked or under-privileged token: stale data would hide the revocation.
            with self._lock:
                self._cache.pop(group, None)
            raise SecretsError(f"vault denied access to {where} (permission denied)") from None
        except _TRANSIENT_ERRORS as exc:
            if cached is not None:
                log.warning(
                    "vault unavailable (%s) reading %s; serving cached data %.0fs old",
                    type(exc).__name__,
                    where,
                    now - cached.fetched_at,
                )
                with self._lock:
                    cached.refresh_at = now + min(self.ttl_s, STALE_RETRY_S)
                return cached.data
            # Only the exception class: its text is not ours to vouch for.
            raise SecretsError(f"vault unavailable ({type(exc).__name__}) reading {where} and nothing cached") from None
        except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
            raise SecretsError(f"vault error ({type(exc).__name__}) reading {where}") from None
        else:
            payload = (response or {}).get("data") or {}
            data = payload.get("data") or {}
            if not isinstance(data, dict):
                raise SecretsError(f"unexpected vault response for {where}")

        with self._lock:
            self._cache[group] = _CachedGroup(data=data, fetched_at=now, refresh_at=now + self.ttl_s)
        return data


def _check_url(url: str) -> None:
    # ASVS 14.2.1: no credentials in URLs; also catches a token pasted into VAULT_ADDR. The
    # message deliberately does not echo the URL, since that is what might hold the secret.
    try:
        parts = urlsplit(url)
    except ValueError:
        raise SecretsError("VAULT_ADDR is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SecretsError("VAULT_ADDR must be an http:// or https:// URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise SecretsError("VAULT_ADDR must not contain credentials, a query or a fragment")


def _read_token(environ: Mapping[str, str]) -> str:
    token = environ.get("VAULT_TOKEN", "").strip()
    if token:
        return token
    token_file = environ.get("VAULT_TOKEN_FILE", "")
    if token_file:
        # A file (e.g. written by Vault Agent or a k8s secret mount) keeps the token out of
        # the process environment, which child processes and crash dumps inherit.
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretsError(f"cannot read VAULT_TOKEN_FILE {token_file} ({type(exc).__name__})") from None
        if token:
            return token
        raise SecretsError(f"VAULT_TOKEN_FILE {token_file} is empty")
    raise SecretsError("VAULT_ADDR is set but neither VAULT_TOKEN nor VAULT_TOKEN_FILE is")


def secrets_from_env(environ: Mapping[str, str] | None = None) -> Secrets:
    """VaultSecrets when VAULT_ADDR is set, else EnvSecrets over the same environment."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    addr = env.get("VAULT_ADDR", "").strip()
    if not addr:
        return EnvSecrets(env)
    # Fail at startup rather than on the first request: a half-configured Vault must not
    # silently fall back to environment variables.
    return VaultSecrets(
        addr,
        _read_token(env),
        mount=env.get("VAULT_MOUNT", "").strip() or "secret",
        prefix=env.get("VAULT_PREFIX", "").strip() or "leadchain",
    )


# ------------------------------------------------------------------ the local stack's secrets file

LOCAL_SECRETS_FILE = "local-secrets.env"


def read_local_secrets_file(path: Path) -> dict[str, str]:
    """The LEADCHAIN_SECRET_* lines of the local stack's secrets file (KEY=value, one a line); {} if absent.

    Only the secret variables are taken: the file must not be able to steer anything else (VAULT_ADDR,
    DATABASE_URL) of a process that reads it.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if key.strip().startswith(ENV_PREFIX)}


def load_local_stack_secrets(environ: dict[str, str] | None = None, var: Path | None = None) -> Path | None:
    """Fill `environ` (default os.environ) from var/local-secrets.env, the file `leadchain up` writes.

    A command in a second terminal then hashes chain ids with the same chain key as the running stack's
    web and workers, instead of computing different ids for the same person. The precedence is the
    launcher's: a variable already set wins over the file. With VAULT_ADDR set nothing is loaded, since
    Vault is then the one source of secrets. Returns the file read, or None.
    """
    env = os.environ if environ is None else environ
    if env.get("VAULT_ADDR", "").strip():
        return None
    if var is None:
        var = Path(env["LEADCHAIN_VAR_DIR"]) if env.get("LEADCHAIN_VAR_DIR") else var_dir()
    path = var / LOCAL_SECRETS_FILE
    values = read_local_secrets_file(path)
    if not values:
        return None
    for key, value in values.items():
        env.setdefault(key, value)
    return path
