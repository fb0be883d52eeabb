"""bench/inbound.py still runs, at a size too small to measure anything: 300 leads in a throw-away PostgreSQL
database, 60 signed call_inbound requests from 5 clients, both targets (leadchain's webhook and the bare
endpoint). Exit status 0 means every leadchain answer was a 200 that recognised its caller. Figures are not
asserted here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_inbound_benchmark_recognises_every_caller_beside_the_bare_endpoint():
    done = subprocess.run(
        [sys.executable, "-m", "bench.inbound", "--leads", "300", "--requests", "60", "--concurrency", "5"]
        + ["--sequential", "10", "--workers", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ),
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "300 leads loaded in" in out and "uq_leads_phone_live" in out, out[-4000:]
    for title in ("60 requests per target, 5 concurrent", "10 requests per target, one at a time"):
        assert title in out, out[-4000:]
    # Both tables: every request answered 200, for both targets.
    assert len(re.findall(r"^leadchain .* \{'200': (60|10)\}$", out, re.M)) == 2, out[-4000:]
    assert len(re.findall(r"^bare .* \{'200': (60|10)\}$", out, re.M)) == 2, out[-4000:]
    assert re.search(r"^ratio leadchain/bare: p50 [\d.]+x, p95 [\d.]+x$", out, re.M), out[-4000:]
    # The verdict is on the server's time (request in -> response out), the client's time printed beside it.
    assert re.search(
        r"^goal p95 <= 30 ms at 5 concurrent, request in -> response out \(server time\): (met|NOT met) \([\d.]+ ms\)$",
        out,
        re.M,
    ), out[-4000:]
    assert re.search(
        r"^at the client \(request sent -> answer read, with the listen queue\): p95 [\d.]+ ms; the bare constant"
        r" endpoint's in the same run: [\d.]+ ms$",
        out,
        re.M,
    ), out[-4000:]
    # The server's own times, read from gunicorn's access log: one per request of each run.
    assert len(re.findall(r"^  server time leadchain  n=(60|10) ", out, re.M)) == 2, out[-4000:]
    assert len(re.findall(r"^  server time bare       n=(60|10) ", out, re.M)) == 2, out[-4000:]
