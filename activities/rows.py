"""Loading the rows an activity was told about.

The workflow only names rows the CRM wrote before (the lead it imported, the submission the web stored), so a
missing one is an error, not a case to handle: it fails the attempt with a message naming the row (Temporal
retries it) instead of an AttributeError on None further down.
"""

from __future__ import annotations

from typing import TypeVar

from crm.extensions import db

Row = TypeVar("Row")


class RowMissing(LookupError):
    """A row the workflow named is not in the database."""


def require_row(model: type[Row], ident: int, *, for_update: bool = False) -> Row:
    """`db.session.get`, locked when asked, raising RowMissing instead of returning None."""
    row = db.session.get(model, ident, with_for_update=for_update)
    if row is None:
        raise RowMissing(f"{model.__name__} {ident} not found")
    return row
