from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify

from crm.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness plus a database round trip: load balancers should stop sending to a web without a DB."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return jsonify(status="degraded", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
