"""`leadchain calendar ...`: connect a rep's CalDAV calendar, list the connections with their status, and issue,
rotate or revoke a rep's feed URL, from the command line (Settings → calendars connects every kind).

The app password never passes through here (an argument would end up in the shell history): `connect`
prints the secret's name; the operator stores the password there in Vault/OpenBao (or, for the local stack,
in var/local-secrets.env under the variable it names). The sync worker picks the connection up within 30 s."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask

from crm import create_app
from crm.calendars import feed
from crm.calendars.connections import secret_name
from crm.extensions import db
from crm.models import User
from crm.models.calendars import CalendarConnection, CalendarKind
from crm.models.companies import Company
from crm.secrets import EnvSecrets
from crm.tenancy.context import company_scope, operator_scope

FEED_PATH = "/calendar/feed/{token}.ics"


def _app(ctx: click.Context) -> Flask:
    return (ctx.obj or {}).get("app") or create_app()


def _company(app: Flask, slug: str) -> int:
    with app.app_context(), operator_scope("cli:calendar", "calendar: resolve company"):
        try:
            found = db.session.scalar(sa.select(Company.id).where(Company.slug == slug, Company.active.is_(True)))
        finally:
            db.session.remove()
    if found is None:
        raise click.BadParameter(f"no active company {slug!r}", param_hint="--company")
    return int(found)


def _user(email: str) -> User:
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.BadParameter(f"no user {email!r} in this company", param_hint="EMAIL")
    return user


@click.group("calendar")
def calendar_group() -> None:
    """The reps' external calendars and feeds."""


@calendar_group.command("connect")
@click.argument("email")
@click.option("--company", "slug", required=True, help="the company's slug")
@click.option("--url", required=True, help="the calendar collection's CalDAV URL")
@click.option("--username", required=True, help="the CalDAV login")
@click.option("--not-busy", is_flag=True, help="do not count its events as busy")
@click.pass_context
def connect(ctx: click.Context, email: str, slug: str, url: str, username: str, not_busy: bool) -> None:
    """Connect the CalDAV calendar at URL for the rep EMAIL."""
    app = _app(ctx)
    company_id = _company(app, slug)
    with app.app_context(), company_scope(company_id):
        user = _user(email)
        connection = CalendarConnection(
            user_id=user.id, kind=CalendarKind.CALDAV, name="CalDAV", url=url, username=username
        )
        connection.counts_as_busy = not not_busy
        db.session.add(connection)
        db.session.flush()
        connection.secret_ref = secret_name(company_id, connection.id)
        db.session.commit()
        click.echo(f"connection {connection.id}: store the app password at {connection.secret_ref}")
        click.echo(f"  (local stack: {EnvSecrets.env_var(connection.secret_ref)} in var/local-secrets.env)")
        db.session.remove()


@calendar_group.command("list")
@click.option("--company", "slug", required=True, help="the company's slug")
@click.pass_context
def list_connections(ctx: click.Context, slug: str) -> None:
    """The company's calendar connections with their status."""
    app = _app(ctx)
    with app.app_context(), company_scope(_company(app, slug)):
        rows = db.session.execute(
            sa.select(CalendarConnection, User.email)
            .join(User, User.id == CalendarConnection.user_id, isouter=True)
            .order_by(CalendarConnection.id)
        ).all()
        for connection, email in rows:
            synced = connection.last_sync_at.isoformat(timespec="seconds") if connection.last_sync_at else "never"
            error = f" ({connection.last_error})" if connection.last_error else ""
            click.echo(f"{connection.id}\t{email or '-'}\t{connection.status.value}\t{synced}{error}")
        db.session.remove()


@calendar_group.command("feed")
@click.argument("email")
@click.option("--company", "slug", required=True, help="the company's slug")
@click.option("--revoke", is_flag=True, help="close the rep's feed URL")
@click.pass_context
def feed_command(ctx: click.Context, email: str, slug: str, revoke: bool) -> None:
    """Issue (or rotate) the rep EMAIL's secret feed URL, printed once; --revoke closes it."""
    app = _app(ctx)
    with app.app_context(), company_scope(_company(app, slug)):
        user = _user(email)
        if revoke:
            click.echo(f"revoked {feed.revoke(user.id)} feed URL(s)")
        else:
            click.echo(FEED_PATH.format(token=feed.issue(user.id)))
        db.session.remove()
