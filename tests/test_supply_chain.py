"""The supply chain (issue 19 item 6): requirements.lock pins every dependency of setup.cfg (and the test
extra) with file hashes, the venv the tests run in holds exactly the locked versions, and `make audit` says
clearly that it checked nothing, and passes, where the advisory data cannot be reached (here: a closed port on
loopback stands for the unreachable service, so the test never leaves the machine)."""

from __future__ import annotations

import configparser
import importlib.metadata
import re
import socket
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)\s*\\?$")
# Tools of the venv itself (python -m venv brings them; make install upgrades pip on its own).
INSTALLER_TOOLS = {"pip", "setuptools"}


def locked() -> dict[str, tuple[str, int]]:
    """{name: (version, number of hashes)} of requirements.lock."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def declared() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines() + cfg["options.extras_require"]["test"].splitlines()
    return {canonicalize_name(Requirement(line).name) for line in lines if line.strip() and not line.startswith("#")}


def test_every_dependency_is_pinned_with_hashes():
    pins = locked()
    assert declared() - set(pins) == set()
    assert {name for name, (_v, hashes) in pins.items() if hashes == 0} == set()


def test_the_venv_holds_the_locked_versions():
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    differ = {
        name: (version, installed.get(name))
        for name, (version, _h) in locked().items()
        if name not in INSTALLER_TOOLS and installed.get(name) != version
    }
    assert differ == {}, "run `make install` (or `make lock` after changing setup.cfg)"


def test_audit_says_it_checked_nothing_when_the_advisories_are_unreachable():
    with socket.socket() as s:  # a port nobody listens on: connection refused, like a firewalled host
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run(
        ["bash", "scripts/audit.sh"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "BIN": str(Path(sys.executable).parent),
            "AUDIT_PROBE_URL": f"http://127.0.0.1:{port}/",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "SKIPPED" in result.stdout and "unreachable" in result.stdout and "nothing was checked" in result.stdout
