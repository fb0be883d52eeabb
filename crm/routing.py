"""The one converter for row ids in every URL, UI and API alike (registered as ``int`` by the app factory).

Werkzeug's own ``int`` converter matches ``\\d+``, which in Python's regular expressions is any Unicode
digit, and ``int()`` reads those too: ``/api/v1/leads/١`` (Arabic-Indic one) answered with lead 1. It also
has no upper bound, so an id past the database's integer column (2³¹ − 1 on PostgreSQL) reached the query
and answered 500. Here an id is ASCII digits only, from 1 to the column's maximum; anything else does not
match the route and answers 404, like an id that does not exist."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter, Map

# Primary keys are INTEGER (32-bit signed) on PostgreSQL and SQLite alike in our schema.
MAX_ROW_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    # [0-9], not \d: only ASCII digits. Eleven digits at most keeps a 10,000-digit path from reaching int().
    regex = r"[0-9]{1,11}"

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = 1,
        max: int | None = MAX_ROW_ID,
        signed: bool = False,
    ) -> None:
        if signed:
            raise ValueError("row ids are never negative")
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=False)
