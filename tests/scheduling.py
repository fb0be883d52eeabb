"""The order in which `make test` (`pytest -n 4 --dist loadfile`) hands out its work units: longest first.

xdist's own order is "most tests first", which left one-test modules of a minute (the chaos slice, the
worker kills) for the end of the run while the other worker sat idle. Here each unit (a module, or a
directory listed as one unit such as the browser package, which tests/conftest.py's scheduler keeps on
one worker) starts in the order of its measured seconds in tests/module_durations.txt, longest first, so
both workers finish together. A unit not in the file (a new module) is estimated from its number of
tests at the suite's mean seconds per test; the file is refreshed with

    .venv/bin/python -m pytest -n 4 --dist loadfile --update-module-durations

which rewrites it from that run (setup + call + teardown of every test, summed per unit).

Only the xdist workers' collections are sorted (every worker sorts the same collection the same way, so
the scheduler sees identical lists); a serial run keeps pytest's collection order.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

DURATIONS_FILE = Path(__file__).resolve().parent / "module_durations.txt"
HEADER = """\
# Seconds per work unit of the whole suite (setup + call + teardown, one worker's wall time), read by
# tests/scheduling.py to start the longest units first. A line ending in / is a directory run as one unit.
# Regenerate: .venv/bin/python -m pytest -n 4 --dist loadfile --update-module-durations
"""


def read_durations(path: Path = DURATIONS_FILE) -> dict[str, float]:
    durations: dict[str, float] = {}
    if not path.exists():
        return durations
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        seconds, unit = line.split(maxsplit=1)
        durations[unit] = float(seconds)
    return durations


def unit_of(nodeid: str, directory_units: list[str]) -> str:
    """The work unit of a test: the listed directory it is under, else its module."""
    for directory in directory_units:
        if nodeid.startswith(directory):
            return directory
    return nodeid.split("::", 1)[0]


def pytest_addoption(parser):
    parser.addoption(
        "--update-module-durations",
        action="store_true",
        help=f"rewrite {DURATIONS_FILE.name} with this run's seconds per work unit (run the whole suite)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if config.pluginmanager.hasplugin("xdist") and config.getoption("dist", None) == "loadfile":
        # The work queue keeps the collection's order (sorted below), not "most tests first".
        config.option.loadscopereorder = False
        config.pluginmanager.register(_TellWorkers(), "leadchain-loadfile-order")
    if config.getoption("update_module_durations"):
        config.pluginmanager.register(_DurationRecorder(), "leadchain-module-durations")


class _TellWorkers:
    """xdist's hook, registered only under --dist loadfile (pytest rejects unknown hooks without xdist)."""

    def pytest_configure_node(self, node):
        # A worker's own config says dist "no"; this tells it the run is loadfile, so it sorts.
        node.workerinput["leadchain_longest_first"] = True


def pytest_collection_modifyitems(config, items):
    if not getattr(config, "workerinput", {}).get("leadchain_longest_first"):
        return
    durations = read_durations()
    directories = sorted((u for u in durations if u.endswith("/")), key=len, reverse=True)
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[unit_of(item.nodeid, directories)] += 1
    known = [u for u in counts if u in durations]
    per_test = sum(durations[u] for u in known) / max(1, sum(counts[u] for u in known))

    def estimate(unit: str) -> float:
        return durations[unit] if unit in durations else counts[unit] * per_test

    # A stable sort: a unit's own tests keep their order; ties keep the collection's order.
    items.sort(key=lambda item: -estimate(unit_of(item.nodeid, directories)))


class _DurationRecorder:
    """On the controller (or a serial run): sums each unit's report durations and writes the file."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.directories = sorted((u for u in read_durations() if u.endswith("/")), key=len, reverse=True)

    def pytest_runtest_logreport(self, report):
        self.seconds[unit_of(report.nodeid, self.directories)] += report.duration

    def pytest_sessionfinish(self, session, exitstatus):
        # A run stopped early (-x, maxfail, interrupted) has not timed every unit; failed tests still count.
        complete = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not session.shouldstop
        if hasattr(session.config, "workerinput") or not complete or not self.seconds:
            return
        lines = [f"{s:8.1f}  {unit}" for unit, s in sorted(self.seconds.items(), key=lambda kv: -kv[1])]
        DURATIONS_FILE.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
