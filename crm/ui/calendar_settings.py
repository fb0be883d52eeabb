"""Settings → calendars (admins): connect and disconnect the reps' calendars and the branches' team calendars
(CalDAV, Cal.com, Google, Microsoft 365), see each one's state (last sync, the last error, a broken grant
that needs a reconnect) and choose which count as busy.

Credentials go to the secrets store at once (crm.calendars.connect); the page never shows one. Google and
Microsoft connect through their consent page: the pending connection (owner, kind) and a random `state` wait
in the signed session, and the return is accepted only with that state."""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import format_datetime

from crm.calendars import connect
from crm.calendars.oauth_connect import authorize_url, exchange_code
from crm.calendars.port import CalendarError
from crm.extensions import db
from crm.models import Branch, User
from crm.models.calendars import CalendarConnection, CalendarKind, CalendarStatus
from crm.ui.access import admin_only
from crm.ui.i18n import _

bp = Blueprint("calendar_settings", __name__, url_prefix="/settings/calendars")
PENDING = "calendar_oauth_pending"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"when": lambda value: format_datetime(value, "short") if value else ""}


OAUTH_KINDS = {CalendarKind.GOOGLE, CalendarKind.MICROSOFT}


def _owners() -> tuple[list[User], list[Branch]]:
    users = db.session.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.name)).all()
    branches = db.session.scalars(sa.select(Branch).order_by(Branch.name)).all()
    return list(users), list(branches)


def _page(form: Any = None, problems: dict[str, str] | None = None, status: int = 200):
    users, branches = _owners()
    rows = db.session.execute(
        sa.select(CalendarConnection, User.name, Branch.name)
        .join(User, User.id == CalendarConnection.user_id, isouter=True)
        .join(Branch, Branch.id == CalendarConnection.branch_id, isouter=True)
        .order_by(CalendarConnection.id)
    ).all()
    broken = [c for c, _u, _b in rows if c.status == CalendarStatus.BROKEN]
    return render_template(
        "ui/settings/calendars.html",
        rows=rows,
        broken=broken,
        users=users,
        branches=branches,
        kinds=list(CalendarKind),
        form=form or {},
        problems=problems or {},
    ), status


@bp.get("")
@admin_only
def index():
    """The connections with their state, and the form to connect another."""
    return _page()


def _owner(raw: str) -> connect.Owner | None:
    kind, _sep, number = raw.partition(":")
    if not number.isdigit():
        return None
    if kind == "user" and db.session.get(User, int(number)) is not None:
        return connect.Owner(user_id=int(number), branch_id=None)
    if kind == "branch" and db.session.get(Branch, int(number)) is not None:
        return connect.Owner(user_id=None, branch_id=int(number))
    return None


def _validate(form) -> tuple[dict[str, Any], dict[str, str]]:
    problems: dict[str, str] = {}
    values: dict[str, Any] = {"owner": _owner(form.get("owner", ""))}
    if values["owner"] is None:
        problems["owner"] = _("Choose a rep or a branch.")
    try:
        values["kind"] = CalendarKind(form.get("kind", ""))
    except ValueError:
        problems["kind"] = _("Choose the kind of calendar.")
        return values, problems
    text = {k: (form.get(k) or "").strip() for k in ("url", "username", "password", "api_key", "event_type")}
    if values["kind"] is CalendarKind.CALDAV:
        if not text["url"].startswith(("https://", "http://")) or len(text["url"]) > 1000:
            problems["url"] = _("The calendar's CalDAV address (https://…).")
        if not text["username"] or len(text["username"]) > 320:
            problems["username"] = _("The CalDAV login.")
        if not text["password"]:
            problems["password"] = _("The app password.")
    if values["kind"] is CalendarKind.CALCOM:
        if not text["api_key"].startswith(("cal_live_", "cal_test_")):
            problems["api_key"] = _("A Cal.com API key (cal_live_… or cal_test_…).")
        if not text["event_type"].isdigit():
            problems["event_type"] = _("The number of the Cal.com event type.")
    return values | text, problems


@bp.post("")
@admin_only
def create():
    """Connect a calendar: CalDAV and Cal.com at once, Google and Microsoft through their consent page."""
    values, problems = _validate(request.form)
    if problems:
        return _page(request.form, problems, 422)
    kind: CalendarKind = values["kind"]
    owner: connect.Owner = values["owner"]
    if kind in OAUTH_KINDS:
        state = secrets.token_urlsafe(24)
        session[PENDING] = {"state": state, "kind": kind.value, "user": owner.user_id, "branch": owner.branch_id}
        hint = db.session.get(User, owner.user_id).email if owner.user_id else None  # type: ignore[union-attr]
        try:
            target = authorize_url(kind.value, url_for(".oauth_return", _external=True), state, hint)
        except CalendarError as exc:
            flash(_("Not connected: %(reason)s", reason=str(exc)), "error")
            return redirect(url_for(".index"), code=303)
        return redirect(target, code=303)
    try:
        if kind is CalendarKind.CALDAV:
            connect.create(kind, owner, values["password"], url=values["url"], username=values["username"])
        else:
            made = connect.create(kind, owner, values["api_key"], url=values["event_type"])
            if not connect.register_calcom_webhook(made, values["api_key"]):
                flash(_("Cal.com did not take the webhook: bookings arrive with each sync round only."), "warning")
    except connect.ConnectError:
        flash(_("Not connected: the secrets store did not take the credential."), "error")
        return redirect(url_for(".index"), code=303)
    flash(_("Calendar connected; the first sync runs within a minute."), "success")
    return redirect(url_for(".index"), code=303)


@bp.get("/oauth")
@admin_only
def oauth_return():
    """Where Google's and Microsoft's consent pages send the admin back."""
    pending = session.pop(PENDING, None)
    if not pending or not request.args.get("state") or request.args.get("state") != pending.get("state"):
        flash(_("Not connected: the consent did not come back from this page."), "error")
        return redirect(url_for(".index"), code=303)
    if not request.args.get("code"):
        flash(_("Not connected: the consent was declined."), "error")
        return redirect(url_for(".index"), code=303)
    kind = CalendarKind(pending["kind"])
    try:
        grant = exchange_code(kind.value, request.args["code"], url_for(".oauth_return", _external=True))
        connect.create(kind, connect.Owner(pending["user"], pending["branch"]), grant, url="primary")
    except (CalendarError, connect.ConnectError) as exc:
        flash(_("Not connected: %(reason)s", reason=str(exc)), "error")
        return redirect(url_for(".index"), code=303)
    flash(_("Calendar connected; the first sync runs within a minute."), "success")
    return redirect(url_for(".index"), code=303)


def _connection_or_404(connection_id: int) -> CalendarConnection:
    found = db.session.get(CalendarConnection, connection_id)
    if found is None:
        abort(404)
    return found


@bp.post("/<int:connection_id>/busy")
@admin_only
def toggle_busy(connection_id: int):
    """Whether the calendar's events count as busy time."""
    connection = _connection_or_404(connection_id)
    connection.counts_as_busy = request.form.get("counts_as_busy") == "on"
    db.session.commit()
    flash(_("Calendar setting saved."), "success")
    return redirect(url_for(".index"), code=303)


@bp.post("/<int:connection_id>/disconnect")
@admin_only
def disconnect(connection_id: int):
    """Disconnect: the calendar's busy times and the links to written events go; the events stay in it."""
    connect.disconnect(_connection_or_404(connection_id))
    flash(_("Calendar disconnected."), "success")
    return redirect(url_for(".index"), code=303)
