"""tests/contention.py: the steal share is read from /proc/stat, and the goal's limit holds unless the host
took more than STOLEN_SHARE of the CPU."""

from __future__ import annotations

import time

from tests import contention
from tests.contention import CpuSteal


def test_the_share_is_a_fraction_of_the_stretch():
    with CpuSteal() as steal:
        time.sleep(0.2)
    assert 0.0 <= steal.share <= 1.0


def test_the_goal_holds_unless_the_host_took_the_cpu(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    monkeypatch.setattr(contention, "PROC_STAT", stat)
    # user nice system idle iowait irq softirq steal
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\n")
    with CpuSteal() as quiet:
        stat.write_text("cpu  150 0 150 1690 0 0 0 10 0 0\n")  # 10 of 1,000 jiffies stolen
    assert quiet.share == 0.01 and quiet.limit(0.1, 1.0) == 0.1
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\n")
    with CpuSteal() as stolen:
        stat.write_text("cpu  200 0 200 1100 0 0 0 500 0 0\n")  # half of 1,000 jiffies stolen
    assert stolen.share == 0.5 and stolen.limit(0.1, 1.0) == 1.0
