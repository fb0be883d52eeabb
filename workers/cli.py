"""The `leadchain` command line."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO, NoReturn

import click
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from crm import create_app, demo, secret_names
from crm.calendars.cli import calendar_group
from crm.extensions import db
from crm.languages import DEFAULT_LANGUAGE, LANGUAGES
from crm.models.companies import Company
from crm.models.types import utcnow
from crm.privacy.cli import privacy_group
from crm.secrets import SecretsError, load_local_stack_secrets, secrets_from_env
from crm.services import csv_import, deliveries, submissions
from crm.services.csv_reader import CsvFile, write_rejected
from crm.sign_webhook import curl_config, json_problem, signed_headers
from crm.tenancy.context import company_scope, operator_scope
from crm.ui.cli import user_group
from crm.ui.security import purge_sessions
from sandbox.app import SandboxConfig, serve
from workers.demo_call import demo_call_command
from workers.health import check
from workers.inbound_cli import inbound_configure_bland

# soft_wrap: a line longer than the terminal (or than rich's 80 columns when the output is a pipe or a
# file, as under `make up > log`) stays one line, so a URL in it is never split in two.
console = Console(stderr=False, soft_wrap=True)


def _app():
    return create_app()


class _Cli(click.Group):
    """The command group; a missing or unreadable secret ends a command with its message and exit 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SecretsError as e:
            # e.g. no app/chain-key: the message names the secret and how to set it (never a value).
            raise click.ClickException(str(e)) from None


def _use_local_stack_secrets(ctx: click.Context) -> None:
    """A command typed in a second terminal sees the secrets of the running local stack.

    `leadchain up` writes var/local-secrets.env and hands it to its processes; without this, an import in
    another terminal would hash chain ids without the stack's chain key. Variables already set win, as in
    the launcher; with VAULT_ADDR set, Vault is the only source. The environment is restored when the
    command ends, so an in-process caller (tests, CliRunner) keeps its own.
    """
    # Process plumbing: the secrets file's variables are put into this process's environment and removed
    # again, for crm.secrets to read; no setting is read here.
    before = set(os.environ)
    if load_local_stack_secrets() is not None:
        added = set(os.environ) - before
        ctx.call_on_close(lambda: [os.environ.pop(key, None) for key in added])


@click.group(cls=_Cli)
@click.version_option(package_name="leadchain")
@click.pass_context
def main(ctx: click.Context) -> None:
    """leadchain: CRM automation for leads, calls, email and reports."""
    _use_local_stack_secrets(ctx)


@main.command("db-upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (the only way the schema is created)."""
    app = _app()
    with app.app_context():
        upgrade()
    console.print("[green]database is at the latest migration[/green]")


_COMPANY_HELP = "the company's slug (default: the only active company, when there is exactly one)"


def _resolve_company(app: Flask, slug: str | None, *, command: str) -> int:
    """The id of the active company `slug`, or of the only active company when no slug is given.

    A command typed at the terminal has no verified record to bind a company from (docs/tenancy.md rule 2),
    so the operator names it; the lookup crosses companies, hence the operator context. A missing or
    ambiguous company ends the command with a message naming --company (exit 1), before any row is touched.
    """
    with app.app_context(), operator_scope(f"cli:{command}", f"{command}: resolve company"):
        try:
            query = sa.select(Company.id, Company.slug).where(Company.active.is_(True))
            if slug is not None:
                query = query.where(Company.slug == slug)
            found = db.session.execute(query.order_by(Company.id).limit(2)).all()
        finally:
            # The operator transaction ends here: the work that follows begins its own in the company's scope.
            db.session.remove()
    if slug is not None and not found:
        raise click.BadParameter(f"no active company {slug!r}", param_hint="--company")
    if slug is None and len(found) != 1:
        reason = "there is no active company" if not found else "there is more than one active company"
        raise click.UsageError(f"{reason}: name one with --company <slug>")
    return int(found[0].id)


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--company", "company", default=None, help=_COMPANY_HELP)
@click.option("--source", default=None, help="source for rows without a Quelle/source column (default: import)")
@click.option("--region", default=None, help="phone region for numbers without +country (default: inferred)")
def import_command(file: Path, company: str | None, source: str | None, region: str | None) -> None:
    """Import a CSV export (German Excel or UTF-8; delimiter and encoding detected).

    Rows go in in short batches, so the running stack keeps writing the same database. If the import
    stops (Ctrl+C, a database error) the summary counts the rows done; the same command again finishes
    the rest, and the rows already imported count as duplicates.
    """
    if source is not None and not csv_import.SOURCE.match(source):
        raise click.BadParameter("letters, digits, _ . - only, at most 64", param_hint="--source")
    if region is not None and (len(region) != 2 or not region.isalpha()):
        raise click.BadParameter("a two-letter ISO country code such as DE or US", param_hint="--region")
    try:
        parsed = csv_import.parse(file.read_bytes())
    except csv_import.CsvFormatError as e:
        console.print(f"[red]cannot read {file}: {e}[/red]")
        sys.exit(2)
    app = _app()
    with app.app_context():
        # Refused before the first row: every row needs the key, and a half import would be no help.
        submissions.require_chain_key()
    company_id = _resolve_company(app, company, command="import")
    report = csv_import.ImportReport()
    with company_scope(company_id):
        stopped = _import_with_progress(app, parsed, report, source=source, region=region)
    _print_import_summary(file, parsed, report)
    if stopped is not None:
        _stop_import(stopped, report)


def _import_with_progress(
    app: Flask, parsed: CsvFile, report: csv_import.ImportReport, *, source: str | None, region: str | None
) -> BaseException | None:
    """Import the rows under a progress bar; what stopped the import (None when it finished)."""
    with (
        app.app_context(),
        Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as bar,
    ):
        task = bar.add_task("rows", total=len(parsed.rows))
        try:
            csv_import.import_rows(
                parsed,
                actor="cli:import",
                default_source=source or "import",
                region=region,
                default_region=app.config["LEADCHAIN"].default_phone_region,
                fuzzy_threshold=app.config["LEADCHAIN"].fuzzy_threshold,
                progress=lambda n: bar.advance(task, n),
                report=report,
            )
        except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - what was done is reported first
            return e
        finally:
            db.session.remove()
    return None


def _print_import_summary(file: Path, parsed: CsvFile, report: csv_import.ImportReport) -> None:
    """The counts table, ignored columns, warnings, and the rejected rows written next to the file."""
    table = Table(title=f"{file.name} ({parsed.encoding}, '{parsed.delimiter}', region {report.region})")
    for name in ("rows", "created", "updated", "duplicates", "flagged", "rejected", "warnings"):
        table.add_column(name, justify="right")
    table.add_row(
        str(report.total),
        str(report.created),
        str(report.updated),
        str(report.duplicates),
        str(report.flagged),
        str(len(report.rejected)),
        str(len(report.warnings)),
    )
    console.print(table)
    if parsed.unknown_headers:
        console.print(f"ignored columns: {', '.join(parsed.unknown_headers)}")
    for line, message in report.warnings:
        console.print(f"[yellow]line {line}: {message}[/yellow]")
    if report.retried_batches:
        console.print(
            f"[yellow]the database was busy: {report.retried_batches} "
            f"batch{'es' if report.retried_batches > 1 else ''} retried[/yellow]"
        )
    if report.rejected:
        # Only rows done are in it; a re-run writes the whole file's list.
        out = file.with_name(f"{file.stem}.rejected.csv")
        write_rejected(out, parsed, report.rejected)
        console.print(f"[red]{len(report.rejected)} rejected rows with reasons: {out}[/red]")


def _stop_import(stopped: BaseException, report: csv_import.ImportReport) -> NoReturn:
    """Say how far the stopped import got and how to finish it; exit 130 (Ctrl+C) or 1, or re-raise
    what is no database trouble (a missing secret, a bug) so its own handler and traceback follow."""
    reason = csv_import.stop_reason(stopped)
    done = f"{report.done} of {report.total} rows done" + (f", up to line {report.last_line}" if report.done else "")
    console.print(f"[red]stopped: {escape(reason or type(stopped).__name__)}; {done}.[/red]")
    console.print(
        "Run the same command again to import the rest: rows already imported are recognised "
        "and counted as duplicates, not imported twice."
    )
    if reason is None:
        raise stopped  # a missing secret or a bug: its own handler (and traceback) after the summary
    sys.exit(130 if isinstance(stopped, KeyboardInterrupt) else 1)


@main.command("purge-deliveries")
@click.option("--older-than-days", type=int, default=None, help="default: LEADCHAIN_DELIVERY_RETENTION_DAYS")
def purge_deliveries(older_than_days: int | None) -> None:
    """Delete webhook delivery records past retention (never fewer than 7 days)."""
    app = _app()
    days = older_than_days if older_than_days is not None else app.config["LEADCHAIN"].delivery_retention_days
    # Retention is the same for every company: one cross-company sweep, named for the audit.
    with app.app_context(), operator_scope("cli:purge-deliveries", "retention"):
        try:
            removed = deliveries.purge(days)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--older-than-days") from None
    console.print(f"removed {removed} delivery records older than {days} days")


@main.command("purge-inbox")
@click.option("--older-than-days", type=int, default=None, help="default: LEADCHAIN_DELIVERY_RETENTION_DAYS")
@click.option("--batch", type=click.IntRange(min=1), default=1000, show_default=True, help="rows per transaction")
def purge_inbox(older_than_days: int | None, batch: int) -> None:
    """Delete delivered inbox rows (webhook deliveries, call results) past retention, in batches."""
    from crm.services.inbox_purge import purge_inboxes

    app = _app()
    days = older_than_days if older_than_days is not None else app.config["LEADCHAIN"].delivery_retention_days
    with app.app_context():
        try:
            done = purge_inboxes(days, batch=batch)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--older-than-days") from None
    console.print(
        f"removed {done.webhook_deliveries} webhook deliveries and {done.call_result_deliveries} call results "
        f"older than {days} days"
    )


@main.command("demo")
@click.option("--url", default="http://127.0.0.1:5000", help="the running web app")
@click.option("--source", default="demo")
def demo_command(url: str, source: str) -> None:
    """Post the sample leads through the real signed webhook path, so their chains run."""
    secrets = secrets_from_env().get_list(secret_names.lead_webhook(source))
    if not secrets:
        raise click.UsageError(f"no webhook secret for source {source!r} (secret webhooks/leads-{source})")
    for answer in demo.post_demo_leads(url, source, secrets[0]):
        console.print(escape(demo.describe_answer(answer)))


@main.command("sign-webhook")
@click.option("--source", default="demo", show_default=True, help="the lead source (secret webhooks/leads-SOURCE)")
@click.option("--url", default="http://127.0.0.1:5000", show_default=True, help="the web app")
@click.option("--data", "data", default=None, help="the JSON body (default: read from --data-file or stdin)")
@click.option("--data-file", type=click.File("rb"), default=None, help="a file with the body ('-': stdin)")
@click.option("--headers-only", is_flag=True, help="print the three webhook-* headers instead of a curl config")
def sign_webhook(source: str, url: str, data: str | None, data_file: BinaryIO | None, headers_only: bool) -> None:
    """Sign a lead for POST /webhooks/leads/SOURCE (Standard Webhooks); prints a curl config, e.g.

    \b
    leadchain sign-webhook --data '{"email": "erika@example.com"}' | curl -sS -K -
    """
    keys = secrets_from_env().get_list(secret_names.lead_webhook(source))
    if not keys:
        raise click.UsageError(
            f"no webhook secret for source {source!r} (secret webhooks/leads-{source}, "
            f"LEADCHAIN_SECRET_WEBHOOKS_LEADS_{source.upper().replace('-', '_')})"
        )
    # stdin's bytes as read: click.get_binary_stream is deprecated (Click 9 drops it) and untyped.
    body = data.encode() if data is not None else (data_file or sys.stdin.buffer).read()
    problem = json_problem(body)
    if problem:
        raise click.UsageError(f"not signed: {problem}")  # exit 2, like any other bad input
    headers = signed_headers(keys[0], body)
    if headers_only:
        click.echo("".join(f"{name}: {value}\n" for name, value in headers.items()), nl=False)
    else:
        click.echo(curl_config(f"{url.rstrip('/')}/webhooks/leads/{source}", headers, body), nl=False)


@main.command("local-api-key")
@click.option("--client", default="local", show_default=True)
def local_api_key(client: str) -> None:
    """Print the local stack's API key (for curl against /api/v1); refused when Vault holds the secrets."""
    # Which secrets backend this process uses (crm.secrets' switch), not a setting: process plumbing.
    if os.environ.get("VAULT_ADDR", "").strip():
        raise click.UsageError("secrets come from Vault here: read API keys there, not through the CLI")
    for entry in secrets_from_env().get_list(secret_names.API_KEYS):
        name, _, key = entry.partition(":")
        if name == client and key:
            click.echo(key)
            return
    raise click.UsageError(
        f"no API key for client {client!r} (secret api/keys, LEADCHAIN_SECRET_API_KEYS); "
        "`leadchain up` creates one in var/local-secrets.env"
    )


@main.command("seed-demo")
def seed_demo() -> None:
    """Create the demo sales team (idempotent)."""
    app = _app()
    with app.app_context():
        summary = demo.seed()
    # One readable line, not a dict dump (the newcomer reads it just before the stack's banner).
    made = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in summary.items() if n)
    console.print(f"demo data: {made or 'already in place, nothing new'}")


# The names workers.main.WORKERS runs (not imported here: workers.main pulls in the worker's heavy modules).
WORKER_NAMES = ("chain", "provider", "reports", "calendars", "voice-bridge")


@main.command("worker")
@click.argument("name", type=click.Choice(WORKER_NAMES))
def worker(name: str) -> None:
    """Run a worker process until SIGTERM (clean shutdown)."""
    # The worker process, the report renderer and the local stack are imported by their commands: each
    # pulls in seconds of dependencies (the Temporal worker, the voice bridge, pandas and matplotlib) that
    # the other commands, the container health check (10 s timeout) above all, must not wait for.
    from workers.main import run

    asyncio.run(run(name))


@main.command("sandbox")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8099, type=int)
@click.option("--webhook-base", default="http://127.0.0.1:5000", help="where the sandbox sends webhooks (the CRM)")
@click.option(
    "--retell-llm-url",
    envvar="LEADCHAIN_SANDBOX_RETELL_LLM_URL",
    default=None,
    show_envvar=True,
    help="Retell calls talk to this custom LLM WebSocket (the voice bridge, with its path secret; "
    "best given by the environment variable, which keeps the secret out of the process list)",
)
@click.option(
    "--realtime-port",
    type=int,
    default=None,
    help="also serve the OpenAI Realtime stand-in on this loopback port (ws://127.0.0.1:PORT/v1)",
)
def sandbox_command(
    host: str, port: int, webhook_base: str, retell_llm_url: str | None, realtime_port: int | None
) -> None:
    """Run the provider sandbox (Retell, Vapi, Bland, Twilio, SendGrid on loopback)."""
    logging.basicConfig(level=logging.INFO)
    config = SandboxConfig(
        webhook_base=webhook_base, retell_llm_websocket_url=retell_llm_url or None, realtime_port=realtime_port
    )
    serve(host, port, config)


@main.command("worker-health")
@click.argument("name", type=click.Choice(["chain", "provider", "reports", "calendars"]))
def worker_health(name: str) -> None:
    """Exit 0 when Temporal answers and the worker's task queue has a live poller (container health check)."""
    ok, detail = asyncio.run(check(name))
    console.print(detail)
    sys.exit(0 if ok else 1)


class _Day(click.ParamType):
    """A calendar day as an ISO date (2026-12-06) or in German notation (06.12.2026); a bad one is refused
    with the option's name and both accepted forms (date.fromisoformat's own message names neither)."""

    name = "day"
    FORMS = ("%Y-%m-%d", "%d.%m.%Y")

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        for form in self.FORMS:
            try:
                return datetime.strptime(text, form).date()
            except ValueError:
                continue
        self.fail(f"{text!r} is not a day: give YYYY-MM-DD (2026-12-06) or DD.MM.YYYY (06.12.2026)", param, ctx)


@main.command("report")
@click.option("--period", type=click.Choice(["daily", "weekly", "monthly"]), required=True)
@click.option(
    "--date",
    "date_",
    type=_Day(),
    default=None,
    help="a day in the period, YYYY-MM-DD or DD.MM.YYYY (default: today, Europe/Berlin)",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--lang", type=click.Choice(LANGUAGES), default=DEFAULT_LANGUAGE, show_default=True)
@click.option("--company", "company", default=None, help=_COMPANY_HELP)
def report(period: str, date_: date | None, out: Path, lang: str, company: str | None) -> None:
    """Render one company's manager report of a period to a PDF file."""
    app = _app()
    company_id = _resolve_company(app, company, command="report")
    try:
        from crm.reports.cli import report_command  # pandas, matplotlib: see `worker`

        with company_scope(company_id):
            report_command(period, date_, out, lang, app=app, console=console)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@main.command("up")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def up(host: str, port: int) -> None:
    """Start the local stack and stop all of it on Ctrl+C."""
    from workers.launcher import run_local_stack  # see `worker`

    sys.exit(run_local_stack(host=host, port=port))


@main.command("purge-sessions")
def purge_sessions_command() -> None:
    """Delete sign-in sessions that have expired or were revoked (run it daily)."""
    app = _app()
    with app.app_context():
        removed = purge_sessions(utcnow())
        db.session.commit()
    console.print(f"removed {removed} expired or revoked sessions")


@main.group("api-key")
def api_key_group() -> None:
    """API keys: each one acts for one company (the key binds its requests to that company)."""


@api_key_group.command("create")
@click.option("--company", "company", required=True, help="the company's slug")
@click.option("--name", required=True, help="what the key is for, e.g. crm-sync (unique in the company)")
@click.option(
    "--scopes",
    default="intake read manage",
    show_default=True,
    help="what the key may do: intake, read, manage (docs/security.md §A4), space-separated",
)
def api_key_create(company: str, name: str, scopes: str) -> None:
    """Make a key and print it once: only its SHA-256 is stored, it cannot be shown again."""
    from crm.api.auth import issue_api_key

    app = _app()
    with app.app_context():
        try:
            key = issue_api_key(company, name, scopes)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
    click.echo(key)


def _register_groups() -> None:
    # Command groups live with their area; the CLI only collects them.

    main.add_command(user_group)
    main.add_command(calendar_group)
    main.add_command(privacy_group)
    main.add_command(demo_call_command)
    main.add_command(inbound_configure_bland)


_register_groups()

if __name__ == "__main__":
    main()
