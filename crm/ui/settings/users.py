"""Settings → users and roles: list, create, change a role, (de)activate, set a password. The last active
admin can be neither demoted nor deactivated."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for

from crm.extensions import db
from crm.models import Role, User
from crm.services import audit
from crm.tenancy.routing import platform_lookup
from crm.ui.access import COMPANY_ROLES, admin_only, user
from crm.ui.auth import hasher, password_problems, set_password
from crm.ui.i18n import LANGUAGES, _
from crm.ui.security import revoke_sessions
from crm.ui.settings.blueprint import actor, bp

USER_FIELDS = ("email", "name", "role", "language", "active")


def _target(user_id: int) -> User:
    found = db.session.get(User, user_id)
    if found is None:
        abort(404)
    return found


def _active_admins() -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(User).where(User.role == Role.ADMIN, User.active.is_(True))
        )
        or 0
    )


@bp.get("")
@admin_only
def index():
    """The settings overview."""
    return render_template("ui/settings/index.html")


@bp.get("/users")
@admin_only
def users():
    """Every user with role, language and state; the form for a new one."""
    people = db.session.scalars(sa.select(User).order_by(User.active.desc(), User.name)).all()
    return render_template(
        "ui/settings/users.html", people=people, roles=list(COMPANY_ROLES), languages=LANGUAGES, problems=[], form={}
    )


def _email_taken(email: str) -> bool:
    """Emails are unique across companies (a login names only an email): another company's user has it too."""
    with platform_lookup("unique email"):
        return db.session.scalar(sa.select(User.id).where(sa.func.lower(User.email) == email.lower())) is not None


@bp.post("/users")
@admin_only
def create_user():
    """Create a user with an initial password (the password policy applies)."""
    form = {k: (request.form.get(k) or "").strip() for k in ("email", "name", "role", "language")}
    password = request.form.get("password") or ""
    problems = []
    if "@" not in form["email"] or len(form["email"]) > 254:
        problems.append(_("Please enter a valid email address."))
    elif _email_taken(form["email"]):
        problems.append(_("A user with this email exists already."))
    if not form["name"] or len(form["name"]) > 200:
        problems.append(_("Please enter a name."))
    if form["role"] not in {r.value for r in COMPANY_ROLES}:
        problems.append(_("Please choose a role."))
    if form["language"] not in LANGUAGES:
        form["language"] = "de"
    problems += password_problems(password, email=form["email"])
    if problems:
        people = db.session.scalars(sa.select(User).order_by(User.active.desc(), User.name)).all()
        return render_template(
            "ui/settings/users.html",
            people=people,
            roles=list(COMPANY_ROLES),
            languages=LANGUAGES,
            problems=problems,
            form=form,
        ), 422
    new = User(
        email=form["email"],
        name=form["name"],
        role=Role(form["role"]),
        language=form["language"],
        password_hash=hasher().hash(password),
    )
    db.session.add(new)
    db.session.flush()
    audit.record(actor(), "user.create", "user", new.id, after=audit.snapshot(new, USER_FIELDS))
    db.session.commit()
    flash(_("User %(name)s created.", name=new.name), "success")
    return redirect(url_for("settings.users"))


@bp.post("/users/<int:user_id>/role")
@admin_only
def change_role(user_id: int):
    """Give a user another role; their sessions end so the new role applies at once."""
    target = _target(user_id)
    try:
        role = Role(request.form.get("role", ""))
    except ValueError:
        abort(422)
    if role not in COMPANY_ROLES:
        abort(422)
    if target.role == Role.ADMIN and role != Role.ADMIN and target.active and _active_admins() <= 1:
        flash(_("The last active admin cannot lose the admin role."), "error")
        return redirect(url_for("settings.users")), 303
    if role != target.role:
        before = audit.snapshot(target, USER_FIELDS)
        target.role = role
        revoke_sessions(target.id, "role")
        audit.record(actor(), "user.role", "user", target.id, before=before, after=audit.snapshot(target, USER_FIELDS))
        db.session.commit()
        flash(_("Role of %(name)s changed.", name=target.name), "success")
    return redirect(url_for("settings.users"))


@bp.post("/users/<int:user_id>/active")
@admin_only
def set_active(user_id: int):
    """Deactivate (all sessions end at once) or reactivate a user. Nobody deactivates themselves."""
    target = _target(user_id)
    active = request.form.get("active") == "1"
    if not active and target.id == user().id:
        flash(_("You cannot deactivate yourself."), "error")
        return redirect(url_for("settings.users")), 303
    if not active and target.role == Role.ADMIN and target.active and _active_admins() <= 1:
        flash(_("The last active admin cannot be deactivated."), "error")
        return redirect(url_for("settings.users")), 303
    if active != target.active:
        before = audit.snapshot(target, USER_FIELDS)
        target.active = active
        if not active:
            revoke_sessions(target.id, "deactivated")
        audit.record(
            actor(),
            "user.activate" if active else "user.deactivate",
            "user",
            target.id,
            before=before,
            after=audit.snapshot(target, USER_FIELDS),
        )
        db.session.commit()
        flash(
            _("%(name)s is active again.", name=target.name)
            if active
            else _("%(name)s is deactivated and signed out.", name=target.name),
            "success",
        )
    return redirect(url_for("settings.users"))


@bp.post("/users/<int:user_id>/password")
@admin_only
def set_user_password(user_id: int):
    """Set a new password for a user (e.g. forgotten); their sessions end."""
    target = _target(user_id)
    password = request.form.get("password") or ""
    problems = password_problems(password, email=target.email)
    if problems:
        for problem in problems:
            flash(problem, "error")
        return redirect(url_for("settings.users")), 303
    set_password(target, password)
    if target.id != user().id:
        revoke_sessions(target.id, "password")
    audit.record(actor(), "user.password", "user", target.id)
    db.session.commit()
    flash(_("New password for %(name)s set; their sessions were ended.", name=target.name), "success")
    return redirect(url_for("settings.users"))
