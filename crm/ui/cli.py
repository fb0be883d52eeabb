"""`leadchain user ...`: create users and set passwords from the command line (the first admin, say).

A password comes from stdin (``--password-stdin``, for scripts), from a hidden prompt, or is generated
(``--generate``) and printed once; it is never an argument (it would end up in the shell history).
Setting a password ends every session of that user."""

from __future__ import annotations

import secrets
import sys

import click
import sqlalchemy as sa

from crm import create_app
from crm.extensions import db
from crm.languages import DEFAULT_LANGUAGE, LANGUAGES
from crm.models import Role, User
from crm.services import audit
from crm.ui.auth import password_problems, set_password

ROLES = [r.value for r in Role]


def _app():
    return create_app()


def _read_password(password_stdin: bool, generate: bool) -> tuple[str, bool]:
    if password_stdin and generate:
        raise click.UsageError("use either --password-stdin or --generate")
    if generate:
        # 24 url-safe characters (144 bits) in 4 groups, easy to read out
        return "-".join(secrets.token_urlsafe(5)[:6] for _ in range(4)), True
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return click.prompt("Password", hide_input=True, confirmation_prompt=True), False


def _store_password(user, password: str) -> None:
    problems = password_problems(password, email=user.email)
    if problems:
        raise click.ClickException(" ".join(problems))
    set_password(user, password)


@click.group("user")
def user_group() -> None:
    """Users of the web UI."""


@user_group.command("create")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(ROLES), default="sales", show_default=True)
@click.option("--language", type=click.Choice(LANGUAGES), default=DEFAULT_LANGUAGE, show_default=True)
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
@click.option("--generate", is_flag=True, help="generate a password and print it once")
def create(email: str, name: str, role: str, language: str, password_stdin: bool, generate: bool) -> None:
    """Create a user who signs in with EMAIL."""
    if "@" not in email:
        raise click.BadParameter("an email address", param_hint="EMAIL")
    password, generated = _read_password(password_stdin, generate)
    app = _app()
    with app.app_context():
        if db.session.scalar(sa.select(User.id).where(sa.func.lower(User.email) == email.lower())):
            raise click.ClickException(f"a user with {email} exists already (use set-password)")
        user = User(email=email, name=name, role=Role(role), language=language)
        db.session.add(user)
        db.session.flush()
        _store_password(user, password)
        audit.record(
            "cli:user",
            "user.create",
            "user",
            user.id,
            after={"email": email, "name": name, "role": role, "language": language},
        )
        db.session.commit()
        click.echo(f"created user {user.id} ({role})")
    if generated:
        click.echo(f"password (shown once): {password}")


@user_group.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
@click.option("--generate", is_flag=True, help="generate a password and print it once")
def set_password_command(email: str, password_stdin: bool, generate: bool) -> None:
    """Set a new password for EMAIL; their sessions end."""
    password, generated = _read_password(password_stdin, generate)
    app = _app()
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.lower()))
        if user is None:
            raise click.ClickException(f"no user with {email}")
        _store_password(user, password)
        audit.record("cli:user", "user.password", "user", user.id)
        db.session.commit()
        click.echo(f"password of user {user.id} set; their sessions were ended")
    if generated:
        click.echo(f"password (shown once): {password}")
