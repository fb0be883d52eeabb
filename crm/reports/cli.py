"""`leadchain report --period daily|weekly|monthly --date D --out FILE.pdf [--lang de|en|fr]`.

Renders the report of the period containing D straight to a file (nothing is stored or emailed), with
a progress bar over the steps: queries, charts, render, write.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crm import create_app
from crm.reports import kpis
from crm.reports.charts import build_charts
from crm.reports.i18n import Formatter
from crm.reports.pdf import html_to_pdf, render_html
from crm.reports.periods import KINDS, REPORT_TZ, local_date, period_for

STEPS = ("queries", "charts", "render", "write")


def report_command(
    period: str,
    date_: date | str | None,
    out: Path | str,
    lang: str = "de",
    *,
    app=None,
    console: Console | None = None,
) -> Path:
    """Write the PDF of the `period` (daily/weekly/monthly) containing `date_` (default: today in
    Europe/Berlin) to `out`. Returns the path written. Raises ValueError for a bad period, date or language."""
    if period not in KINDS:
        raise ValueError(f"unknown period {period!r}; choose one of {', '.join(KINDS)}")
    fmt = Formatter(lang)
    day = date.fromisoformat(date_) if isinstance(date_, str) else date_ or local_date(datetime.now(UTC), REPORT_TZ)
    target = Path(out)
    the_period = period_for(period, day)
    if app is None:
        app = create_app()
    console = console or Console(stderr=True)
    with (
        app.app_context(),
        Progress(
            TextColumn("[bold]{task.description:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar,
    ):
        task = bar.add_task(STEPS[0], total=len(STEPS))

        def step(name: str) -> None:
            bar.update(task, description=name)

        report = kpis.compute(the_period)
        bar.advance(task)
        step(STEPS[1])
        charts = build_charts(report, fmt)
        bar.advance(task)
        step(STEPS[2])
        content = html_to_pdf(render_html(report, lang, charts=charts))
        bar.advance(task)
        step(STEPS[3])
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(content)
        tmp.replace(target)
        bar.advance(task)
        step("done")
    console.print(
        f"{fmt.period_title(the_period)} {fmt.period_label(the_period)}: {target} ({len(content) // 1024} KiB)"
    )
    return target
