"""tests/contention.py: the steal share and the other processes' share are read from /proc/stat and this
process's CPU time, and the goal's limit holds unless the host took more than STOLEN_SHARE of the CPU or the
other processes more than the cores the test does not use."""

from __future__ import annotations

import time

import pytest

from tests import contention
from tests.contention import CpuSteal


def test_the_shares_are_fractions_of_the_stretch():
    with CpuSteal() as steal:
        time.sleep(0.2)
    assert 0.0 <= steal.share <= 1.0 and 0.0 <= steal.others <= 1.0


@pytest.fixture
def stat(tmp_path, monkeypatch):
    path = tmp_path / "stat"
    monkeypatch.setattr(contention, "PROC_STAT", path)
    own = iter([0.0, 0.0])
    monkeypatch.setattr(contention, "_own_ticks", lambda: next(own))
    return path


def test_the_goal_holds_unless_the_host_took_the_cpu(stat):
    # user nice system idle iowait irq softirq steal
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\n")
    with CpuSteal(cpus=2) as quiet:
        stat.write_text("cpu  150 0 150 1690 0 0 0 10 0 0\n")  # 10 of 1,000 jiffies stolen
    assert quiet.share == 0.01 and quiet.limit(0.1, 1.0) == 0.1


def test_the_contended_limit_where_the_host_took_half(stat):
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\n")
    with CpuSteal(cpus=2) as stolen:
        stat.write_text("cpu  200 0 200 1100 0 0 0 500 0 0\n")  # half of 1,000 jiffies stolen
    assert stolen.share == 0.5 and stolen.limit(0.1, 1.0) == 1.0


@pytest.mark.parametrize(
    ("busy", "cpus", "expected"),
    [
        (400, 2, 0.1),  # others used 40 % of two cores: one core stayed free for the test
        (700, 2, 1.0),  # 70 %: more than the one core the test does not use
        (700, 4, 0.1),  # 70 % of four cores: still under three cores
        (100, 1, 1.0),  # one core: any other process competes with the test
    ],
)
def test_the_contended_limit_where_other_processes_held_the_cores(stat, busy, cpus, expected):
    stat.write_text("cpu  0 0 0 0 0 0 0 0 0 0\n")
    with CpuSteal(cpus=cpus) as loaded:
        stat.write_text(f"cpu  {busy} 0 0 {1000 - busy} 0 0 0 0 0 0\n")
    assert loaded.share == 0.0 and loaded.others == busy / 1000
    assert loaded.limit(0.1, 1.0) == expected


def test_this_processs_own_cpu_is_not_counted_as_others(tmp_path, monkeypatch):
    path = tmp_path / "stat"
    monkeypatch.setattr(contention, "PROC_STAT", path)
    own = iter([100.0, 700.0])  # the test itself ran 600 of the 700 busy jiffies
    monkeypatch.setattr(contention, "_own_ticks", lambda: next(own))
    path.write_text("cpu  0 0 0 0 0 0 0 0 0 0\n")
    with CpuSteal(cpus=2) as mine:
        path.write_text("cpu  700 0 0 300 0 0 0 0 0 0\n")
    assert mine.others == pytest.approx(0.1) and mine.limit(0.1, 1.0) == 0.1
