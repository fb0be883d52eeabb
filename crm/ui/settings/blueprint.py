"""The settings blueprint (endpoints "settings.*") and what its areas share: the acting admin's audit
code and "reset to default" for a stored override."""

from __future__ import annotations

from flask import Blueprint, flash
from flask_babel import format_datetime

from crm.extensions import db
from crm.services import app_settings
from crm.ui.access import user
from crm.ui.i18n import _

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.context_processor
def _helpers() -> dict:
    return {"when": lambda value: format_datetime(value, "short") if value else ""}


def actor() -> str:
    return f"user:{user().id}"


def reset_override(key: str) -> None:
    if app_settings.reset(key, actor()):
        db.session.commit()
        flash(_("Reset to the default."), "success")
    else:
        flash(_("This already is the default."), "info")
