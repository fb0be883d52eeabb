"""Team invites: a user without a password and an email with a one-time link to choose one.

The link carries the user id signed with the app's secret key (itsdangerous, as crm.email.tokens) and
expires after a week; it works only while the user has no password, so once used it is spent. Each address
is invited once: a second run of the team screen finds the user and sends nothing (at most once per
company and address)."""

from __future__ import annotations

from flask import current_app, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from temporalio.exceptions import ApplicationError

from crm.email.factory import build_sender
from crm.email.render import Rendered
from crm.email.sendgrid_sender import Outgoing
from crm.extensions import db
from crm.models.users import Role, User
from crm.ui.i18n import _

SALT = "leadchain-onboarding-invite"
MAX_AGE_S = 7 * 24 * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def make_token(user_id: int) -> str:
    return _serializer().dumps({"u": user_id})


def read_token(token: str) -> User | None:
    """The invited user the token names, if it is genuine, fresh and not yet used; else None."""
    try:
        claim = _serializer().loads(token, max_age=MAX_AGE_S)
    except BadSignature:
        return None
    user_id = claim.get("u") if isinstance(claim, dict) else None
    row = db.session.get(User, user_id) if isinstance(user_id, int) else None
    return row if row is not None and row.password_hash is None and row.active else None


class InviteNotSent(Exception):
    """SendGrid refused or could not be reached; the user was not kept, so the invite can be tried again."""


def invite(email: str, role: Role, company_name: str, language: str) -> bool:
    """Create the user and mail the link; False when the address already has a user (nothing sent)."""
    if db.session.query(User.id).filter(db.func.lower(User.email) == email.lower()).first() is not None:
        return False
    row = User(email=email, name=email.split("@", 1)[0], role=role, language=language, password_hash=None)
    db.session.add(row)
    db.session.commit()
    link = url_for("onboarding.accept_invite", token=make_token(row.id), _external=True)
    subject = _("Your invitation to %(company)s on leadchain", company=company_name)
    text = _("Choose your password here (the link works once, for seven days): %(link)s", link=link)
    sender = build_sender(current_app._get_current_object())  # type: ignore[attr-defined]
    if sender is None:
        return True
    try:
        sender.deliver(
            Outgoing(
                to_email=email,
                to_name="",
                rendered=Rendered(subject=subject, html=f"<p>{text}</p>", text=text),
                categories=["leadchain", "invite"],
                custom_args={"user_id": str(row.id), "message_key": f"invite:{row.id}"},
            )
        )
    except ApplicationError as exc:
        db.session.delete(row)
        db.session.commit()
        raise InviteNotSent(str(exc)) from None
    return True
