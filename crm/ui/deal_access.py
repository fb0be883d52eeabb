"""Which deals a user may see and change: the rule of the leads (crm.ui.access) applied to the deal itself.

* admin: every deal of the company;
* manager: the deals of their chosen branches and of the company as a whole (none chosen: every deal);
* sales: the deals they own, and the unowned deals of their branches (none chosen: every branch) and of the
  company as a whole, as with leads. A rep moves and closes what they see; only managers and admins give a
  deal to someone else.

Another company's deal is not there at all (the ORM criteria): 404 like a deal the role may not see."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort

from crm.extensions import db
from crm.models import Deal, Role, User, user_branches
from crm.ui.access import MANAGERS, branch_ids, user


def _in_branches(who: User) -> sa.ColumnElement[bool]:
    # In SQL, as crm.ui.access does for leads: no chosen branch means every branch.
    chosen = sa.select(user_branches.c.branch_id).where(user_branches.c.user_id == who.id)
    return sa.or_(~chosen.exists(), Deal.branch_id.is_(None), Deal.branch_id.in_(chosen))


def deal_visibility(who: User) -> sa.ColumnElement[bool]:
    """The WHERE clause of the deals `who` may see."""
    if who.role == Role.ADMIN:
        return sa.true()
    if who.role == Role.MANAGER:
        return _in_branches(who)
    if who.role == Role.SALES:
        return sa.or_(Deal.owner_id == who.id, sa.and_(Deal.owner_id.is_(None), _in_branches(who)))
    return sa.false()  # an operator outside a company they entered


def can_see_deal(who: User, deal: Deal) -> bool:
    if who.role == Role.ADMIN:
        return True
    branches = branch_ids(who)
    in_branches = not branches or deal.branch_id is None or deal.branch_id in branches
    if who.role == Role.MANAGER:
        return in_branches
    if who.role == Role.SALES:
        return deal.owner_id == who.id or (deal.owner_id is None and in_branches)
    return False


def deal_or_404(deal_id: int) -> Deal:
    deal = db.session.get(Deal, deal_id)
    if deal is None or not can_see_deal(user(), deal):
        abort(404)
    return deal


def may_reassign(who: User) -> bool:
    """Only managers and admins give a deal another owner (a rep's deals are theirs)."""
    return who.role in MANAGERS
