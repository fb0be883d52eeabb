"""The application wall (crm.tenancy.orm), on both databases: ORM reads, updates, deletes and lazy loads in
company A's scope never reach company B; with no scope a company-owned table is refused; the operator
context sees both; new rows take the scope's company."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import aliased

from crm.extensions import db
from crm.models import Company, Interaction, Lead, Report, ReportDocument, Role, User
from crm.models.interactions import Direction, InteractionKind
from crm.tenancy.context import CompanyScopeConflict, NoCompanyScope, company_scope, operator_scope
from crm.tenancy.login import find_user_for_login

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def companies(app):
    """Company 1 (the test company) and a second one, with two leads, an interaction and a report each."""
    with app.app_context():
        with operator_scope("tests", "fixture"):
            second = Company(slug="zweite", name="Zweite GmbH")
            db.session.add(second)
            db.session.commit()
            b = second.id
        made = {}
        for company_id, tag in ((1, "a"), (b, "b")):
            with company_scope(company_id):
                user = User(email=f"rep-{tag}@example.de", name=f"Rep {tag}")
                leads = [Lead(source="t", email_key=f"{tag}{n}@example.de", owner=user, tags=[]) for n in range(2)]
                db.session.add_all(leads)
                db.session.flush()
                db.session.add(
                    Interaction(lead_id=leads[0].id, kind=InteractionKind.NOTE, direction=Direction.INTERNAL)
                )
                report = Report(kind="daily", period_start=T0, period_end=T0, figures={})
                db.session.add(report)
                db.session.commit()
                made[company_id] = {"leads": [lead.id for lead in leads], "user": user.id, "report": report.id}
        db.session.remove()
    return 1, b, made


def _ids(rows) -> set[int]:
    return {r.id for r in rows}


def test_reads_in_a_scope_never_see_the_other_company(app, companies):
    a, b, made = companies
    with app.app_context():
        for mine, theirs in ((a, b), (b, a)):
            with company_scope(mine):
                assert _ids(db.session.scalars(sa.select(Lead))) == set(made[mine]["leads"])
                assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 2
                assert db.session.get(Lead, made[theirs]["leads"][0]) is None
                # An alias and a join are scoped too.
                other = aliased(Lead)
                pairs = db.session.execute(sa.select(Lead.id, other.id).join(other, other.id != Lead.id)).all()
                assert {x for pair in pairs for x in pair} == set(made[mine]["leads"])
                joined = db.session.scalars(sa.select(Interaction).join(Lead, Lead.id == Interaction.lead_id)).all()
                assert [i.lead_id for i in joined] == [made[mine]["leads"][0]]
                assert _ids(db.session.scalars(sa.select(User))) == {made[mine]["user"]}
                db.session.rollback()
                db.session.expunge_all()


def test_updates_and_deletes_in_a_scope_leave_the_other_company_alone(app, companies):
    a, b, made = companies
    with app.app_context():
        with company_scope(a):
            changed = db.session.execute(sa.update(Lead).values(chain_stage="touched"))
            assert changed.rowcount == 2
            gone = db.session.execute(sa.delete(Interaction))
            assert gone.rowcount == 1
            db.session.commit()
        with operator_scope("tests", "check"):
            stages = dict(
                db.session.execute(
                    sa.select(Lead.company_id, sa.func.count())
                    .where(Lead.chain_stage == "touched")
                    .group_by(Lead.company_id)
                ).all()
            )
            assert stages == {a: 2}
            assert db.session.scalars(sa.select(Interaction.lead_id)).all() == [made[b]["leads"][0]]
            db.session.rollback()


def test_no_scope_refuses_company_owned_rows(app, companies):
    with app.app_context():
        with pytest.raises(NoCompanyScope):
            db.session.scalars(sa.select(Lead)).all()
        db.session.rollback()
        with pytest.raises(NoCompanyScope):
            db.session.execute(sa.select(sa.func.count()).select_from(Lead))
        db.session.rollback()
        with pytest.raises(NoCompanyScope):
            db.session.execute(sa.update(Lead).values(chain_stage="x"))
        db.session.rollback()
        db.session.add(Lead(source="t", tags=[]))
        with pytest.raises(NoCompanyScope):
            db.session.flush()
        db.session.rollback()
        # Platform rows are not company-owned: the companies themselves can be read to route.
        assert db.session.scalar(sa.select(sa.func.count(Company.id))) == 2


def test_the_operator_context_sees_every_company(app, companies):
    a, b, made = companies
    with app.app_context(), operator_scope("tests", "check"):
        assert _ids(db.session.scalars(sa.select(Lead))) == set(made[a]["leads"]) | set(made[b]["leads"])
        # An operator narrowed to one company sees that company only.
        with company_scope(b):
            assert _ids(db.session.scalars(sa.select(Lead))) == set(made[b]["leads"])
        db.session.rollback()


def test_new_rows_take_the_scope_company_and_another_company_is_refused(app, companies):
    a, b, _made = companies
    with app.app_context():
        with company_scope(b):
            lead = Lead(source="t", email_key="new@example.de", tags=[])
            db.session.add(lead)
            db.session.commit()
            assert lead.company_id == b
            db.session.add(Lead(source="t", email_key="x@example.de", tags=[], company_id=a))
            with pytest.raises(CompanyScopeConflict):
                db.session.flush()
            db.session.rollback()
            moved = db.session.get(Lead, lead.id)
            moved.company_id = a
            with pytest.raises(CompanyScopeConflict):
                db.session.flush()
            db.session.rollback()
        # The same email may live in both companies (the live-record key is per company).
        with company_scope(a):
            db.session.add(Lead(source="t", email_key="new@example.de", tags=[]))
            db.session.commit()


def test_an_insert_statement_naming_another_company_is_refused(app, companies):
    """An ORM INSERT statement whose values name a company: on SQLite nothing but this check stops it."""
    a, b, _made = companies
    with app.app_context():
        with company_scope(b):
            with pytest.raises(CompanyScopeConflict):
                db.session.execute(
                    sa.insert(Lead).values(source="t", email_key="ins@example.de", tags=[], company_id=a)
                )
            db.session.rollback()
            db.session.execute(sa.insert(Lead).values(source="t", email_key="ins@example.de", tags=[], company_id=b))
            db.session.commit()
        with operator_scope("tests", "check"):
            rows = db.session.scalars(sa.select(Lead).where(Lead.email_key == "ins@example.de")).all()
            assert [r.company_id for r in rows] == [b]


def test_lazy_loads_are_scoped(app, companies):
    a, b, made = companies
    with app.app_context():
        # A document of B's hung on A's report (only an operator can write that): A's lazy load skips it.
        with operator_scope("tests", "cross-company fixture"):
            for company_id, language in ((a, "de"), (b, "en")):
                db.session.add(
                    ReportDocument(
                        company_id=company_id,
                        report_id=made[a]["report"],
                        language=language,
                        filename="r.pdf",
                        content=b"%PDF",
                        size_bytes=4,
                        sha256="0" * 64,
                    )
                )
            db.session.commit()
        db.session.remove()
        with company_scope(a):
            report = db.session.get(Report, made[a]["report"])
            assert [d.language for d in report.documents] == ["de"]
            lead = db.session.get(Lead, made[a]["leads"][0])
            assert lead.owner.id == made[a]["user"]
            db.session.rollback()
        db.session.remove()
        with operator_scope("tests", "check"):
            report = db.session.get(Report, made[a]["report"])
            assert [d.language for d in report.documents] == ["de", "en"]
            db.session.rollback()


def test_find_user_for_login_crosses_companies_and_the_scope_returns(app, companies):
    _a, b, made = companies
    with app.app_context():
        user = find_user_for_login(" Rep-B@example.de ")
        assert user is not None and user.id == made[b]["user"] and user.company_id == b
        assert find_user_for_login("nobody@example.de") is None
        # Back outside the operator context, the same transaction refuses company-owned rows again.
        with pytest.raises(NoCompanyScope):
            db.session.scalars(sa.select(Lead)).all()
        db.session.rollback()


def test_an_operator_has_no_company_and_everyone_else_has_one(app, companies):
    """The users' check (migration 0013): a company role without a company, or an operator with one, is refused
    by the database; an operator is made only in an operator context, never inside a company's scope."""
    a, _b, _made = companies
    with app.app_context():
        with company_scope(a):
            db.session.add(User(email="op@platform.example", name="Op", role=Role.OPERATOR))
            with pytest.raises(CompanyScopeConflict):
                db.session.flush()
            db.session.rollback()
        with operator_scope("tests", "check"):
            operator = User(email="op@platform.example", name="Op", role=Role.OPERATOR)
            db.session.add(operator)
            db.session.commit()
            assert db.session.get(User, operator.id).company_id is None
            db.session.add(User(email="nobody@example.de", name="Nobody", role=Role.SALES))
            with pytest.raises(sa.exc.IntegrityError):
                db.session.flush()
            db.session.rollback()
            db.session.add(User(email="op2@platform.example", name="Op 2", role=Role.OPERATOR, company_id=a))
            with pytest.raises(sa.exc.IntegrityError):
                db.session.flush()
            db.session.rollback()
