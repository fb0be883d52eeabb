"""`leadchain report --date`: ISO and German days are the same day; a bad one names --date and the forms
(a newcomer typed 06.12.2026 and got "Invalid isoformat string" with no option named)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import workers.cli
from workers.cli import main


@pytest.mark.parametrize("day", ["2026-13-01", "6/12/2026", "31.02.2026", "gestern", ""])
def test_a_day_that_is_no_day_is_refused_naming_the_option(day: str, tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    result = CliRunner().invoke(main, ["report", "--period", "daily", "--date", day, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--date'" in result.output
    assert "YYYY-MM-DD" in result.output and "DD.MM.YYYY" in result.output
    assert "isoformat" not in result.output
    assert not out.exists()


def test_a_german_day_is_the_same_day_as_its_iso_form(app, tmp_path: Path, monkeypatch) -> None:
    # The command builds its app from the environment; here it is the test's app on the test database.
    monkeypatch.setattr(workers.cli, "_app", lambda: app)
    said = []
    for day in ("06.12.2026", "2026-12-06"):
        out = tmp_path / f"{day}.pdf"
        result = CliRunner().invoke(
            main, ["report", "--period", "weekly", "--date", day, "--out", str(out), "--lang", "en"]
        )
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(b"%PDF")
        # The line names the file written, which differs by the day's spelling: compared without it.
        line = next(line for line in result.output.splitlines() if line.startswith("Weekly report"))
        said.append(line.replace(str(out), "<out>"))
    # The week of Sunday 6 December 2026 (Monday 30 November to Sunday 6 December) both times.
    assert said[0] == said[1]
    assert "Week 49" in said[0] and "30 Nov" in said[0]
