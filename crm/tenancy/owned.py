"""The mark of a company-owned row: `company_id`, a foreign key to companies.id, indexed.

Every business model mixes in `CompanyOwned`; crm.tenancy.orm keys its criteria and its flush check on the
mixin (not on a list of tables), so a new model that mixes it in is scoped without anyone remembering to.
A model whose rows may belong to no company (an operator user, a payload whose company could not be read)
sets `__company_nullable__ = True`: the column is nullable and the criteria still apply (NULL never equals
the current company, so such rows are seen only in an operator context)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, declared_attr, mapped_column


class CompanyOwned:
    __company_nullable__: bool = False

    @declared_attr
    def company_id(cls) -> Mapped[int]:
        return mapped_column(
            sa.ForeignKey("companies.id"), index=True, nullable=bool(getattr(cls, "__company_nullable__", False))
        )


def is_company_owned(cls: object) -> bool:
    return isinstance(cls, type) and issubclass(cls, CompanyOwned)
