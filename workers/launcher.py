"""`leadchain up`: the whole local stack in one terminal, stopped together on Ctrl+C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from crm.config import PROJECT_ROOT


@dataclass
class Service:
    name: str
    argv: list[str]
    url: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def _bin(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def local_services(host: str, port: int) -> list[Service]:
    return [
        Service("web", [_bin("gunicorn"), "--bind", f"{host}:{port}", "--workers", "2", "--access-logfile", "-",
                        "crm:create_app()"], url=f"http://{host}:{port}/  (API spec: /api/openapi.json)"),
    ]


def _run_once(argv: list[str]) -> None:
    subprocess.run(argv, check=True)


def run_local_stack(host: str = "127.0.0.1", port: int = 5000) -> int:
    var = Path(os.environ.get("LEADCHAIN_VAR_DIR", PROJECT_ROOT / "var"))
    var.mkdir(parents=True, exist_ok=True)
    leadchain = _bin("leadchain")
    _run_once([leadchain, "db-upgrade"])
    _run_once([leadchain, "seed-demo"])
    services = local_services(host, port)
    procs: list[tuple[Service, subprocess.Popen]] = []
    for svc in services:
        procs.append((svc, subprocess.Popen(svc.argv, env={**os.environ, **svc.env})))
    print("\nleadchain local stack is up:")
    for svc in services:
        if svc.url:
            print(f"  {svc.name:12s} {svc.url}")
    print("Ctrl+C stops everything.\n", flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for svc, proc in procs:
            if proc.poll() is not None:
                print(f"{svc.name} exited with {proc.returncode}; stopping the stack", file=sys.stderr)
                exit_code = proc.returncode or 1
                stopping = True
        time.sleep(0.5)
    for _, proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 15
    for _, proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return exit_code
