"""`leadchain privacy ...`: open a data-subject request, follow its steps, write an export archive to a file
(once), as the admin page does (docs/privacy.md §R1-§R3).

    leadchain privacy open --company acme --kind erasure --email anna@example.com \\
        --requester subject --via email --identity-check "reply from the address on record"
    leadchain privacy show --company acme 7
    leadchain privacy download --company acme 7 --out request-7.zip

The identifiers given to `open` end up in the shell history: clear it, or use the admin page."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask

from crm import create_app
from crm.errors import Unavailable
from crm.extensions import db
from crm.models import PrivacyRequest
from crm.models.companies import Company
from crm.models.types import utcnow
from crm.privacy import launch, requests
from crm.privacy.requests import CHANNELS, REQUESTERS
from crm.privacy.subjects import SubjectNotFound, SubjectQuery, find_person
from crm.services import audit
from crm.tenancy.context import company_scope, operator_scope

ACTOR = "cli:privacy"


def _app(ctx: click.Context) -> Flask:
    return (ctx.obj or {}).get("app") or create_app()


def _company(app: Flask, slug: str) -> int:
    with app.app_context(), operator_scope(ACTOR, "privacy: resolve company"):
        try:
            found = db.session.scalar(sa.select(Company.id).where(Company.slug == slug, Company.active.is_(True)))
        finally:
            db.session.remove()
    if found is None:
        raise click.BadParameter(f"no active company {slug!r}", param_hint="--company")
    return int(found)


@click.group("privacy")
def privacy_group() -> None:
    """Data-subject requests: export and erasure (docs/privacy.md)."""


@privacy_group.command("open")
@click.option("--company", "slug", required=True, help="the company's slug")
@click.option("--kind", type=click.Choice(["export", "erasure"]), required=True)
@click.option("--email", default=None)
@click.option("--phone", default=None)
@click.option("--lead-id", type=int, default=None)
@click.option("--requester", type=click.Choice(REQUESTERS), default="subject", show_default=True)
@click.option("--via", type=click.Choice(CHANNELS), default="email", show_default=True)
@click.option("--identity-check", required=True, help="how the requester's identity was checked")
@click.pass_context
def open_command(ctx: click.Context, slug: str, kind: str, email, phone, lead_id, requester, via, identity_check):
    """Find the person, record the request and start its workflow."""
    app = _app(ctx)
    company = _company(app, slug)
    region = app.config["LEADCHAIN"].default_phone_region
    query = SubjectQuery(email=email, phone=phone, lead_id=lead_id)
    problems = query.problems(region)
    if problems:
        raise click.UsageError("; ".join(f"--{k.replace('_', '-')}: {', '.join(v)}" for k, v in problems.items()))
    with app.app_context(), company_scope(company):
        try:
            lead_ids = find_person(query, region=region)
        except SubjectNotFound:
            raise click.ClickException("no lead record matches") from None
        opened = requests.open_request(
            kind, lead_ids, requester=requester, received_via=via, identity_check=identity_check, actor=ACTOR
        )
        db.session.commit()
        click.echo(f"request {opened.id} ({kind}, {len(lead_ids)} lead record(s)), due {opened.due_at:%Y-%m-%d}")
        try:
            click.echo(f"workflow {launch.start_from_web(opened)} started")
            db.session.commit()
        except Unavailable:
            click.echo("Temporal is unavailable: the request is recorded; start it again from its page", err=True)


@privacy_group.command("show")
@click.option("--company", "slug", required=True, help="the company's slug")
@click.argument("request_id", type=int)
@click.pass_context
def show_command(ctx: click.Context, slug: str, request_id: int) -> None:
    """The request's status, due date and every step's result."""
    app = _app(ctx)
    with app.app_context(), company_scope(_company(app, slug)):
        found = db.session.get(PrivacyRequest, request_id)
        if found is None:
            raise click.ClickException(f"no request {request_id} in this company")
        click.echo(f"{found.kind} {found.status}, received {found.received_at:%Y-%m-%d}, due {found.due_at:%Y-%m-%d}")
        for step in requests.steps(found.id):
            click.echo(f"  {step.status:<12} {step.step}: {step.detail} (attempts {step.attempts})")


@privacy_group.command("download")
@click.option("--company", "slug", required=True, help="the company's slug")
@click.argument("request_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.pass_context
def download_command(ctx: click.Context, slug: str, request_id: int, out: Path) -> None:
    """Write the export archive to --out, once (then it is dropped, as on the admin page)."""
    app = _app(ctx)
    with app.app_context(), company_scope(_company(app, slug)):
        found = db.session.get(PrivacyRequest, request_id, with_for_update=True)
        if found is None or found.kind != "export":
            raise click.ClickException(f"no export request {request_id} in this company")
        if found.downloaded_at is not None or found.archive is None:
            raise click.ClickException("the archive was downloaded already, or is not built yet")
        out.write_bytes(found.archive)
        found.archive, found.downloaded_at, found.downloaded_by = None, utcnow(), ACTOR
        audit.record(
            ACTOR, "privacy.export_downloaded", "privacy_request", found.id, after={"bytes": out.stat().st_size}
        )
        db.session.commit()
    click.echo(f"wrote {out}")
