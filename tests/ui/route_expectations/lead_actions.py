"""Actions on a lead (crm.ui.lead_actions): every one a POST on a lead the user may see (else 404,
nothing changes). The matrix leads have no chain, so chain actions answer with a message, not a call."""

import uuid

import sqlalchemy as sa

from crm.extensions import db
from crm.models import AuditEntry, Interaction, Lead, PossibleDuplicate, Task
from tests.ui.route_expectations import Route

DONE = {"anonymous": 302, "sales_own": 303, "sales_foreign": 404, "manager": 303, "admin": 303}


def _lead_state(s):
    lead = db.session.get(Lead, s.lead)
    audits = db.session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.entity_id == s.lead))
    return (lead.do_not_contact, lead.status, lead.merged_into_id, audits)


def _counts(s):
    return (
        db.session.scalar(sa.select(sa.func.count(Interaction.id)).where(Interaction.lead_id == s.lead)),
        db.session.scalar(sa.select(sa.func.count(Task.id)).where(Task.lead_id == s.lead)),
    )


def _flagged_duplicate(s) -> dict:
    """A second record of the subject's lead's person, flagged as its possible duplicate."""
    lead = db.session.get(Lead, s.lead)
    tag = uuid.uuid4().hex[:8]
    dup = Lead(
        first_name=lead.first_name,
        last_name=lead.last_name,
        email=f"dup-{tag}@example.test",
        email_key=f"dup-{tag}@example.test",
        source="test",
        owner_id=lead.owner_id,
    )
    db.session.add(dup)
    db.session.flush()
    flag = PossibleDuplicate(lead_id=dup.id, candidate_id=lead.id, similarity=0.9, reason="same name")
    db.session.add(flag)
    db.session.commit()
    return {"flag_id": flag.id, "dup_id": dup.id}


def _flag_state(s):
    flag = db.session.get(PossibleDuplicate, s.extra["flag_id"])
    dup = db.session.get(Lead, s.extra["dup_id"])
    return (flag.status, dup.merged_into_id, dup.status)


def _lead(s):
    return {"lead_id": s.lead}


ROUTES = {
    "lead_actions.chain": Route(
        method="POST", url_args=lambda s: {"lead_id": s.lead, "action": "pause"}, snapshot=_lead_state, expect=DONE
    ),
    "lead_actions.call_now": Route(method="POST", url_args=_lead, snapshot=_lead_state, expect=DONE),
    "lead_actions.do_not_contact": Route(
        method="POST", url_args=_lead, data=lambda s: {"reason": "matrix"}, snapshot=_lead_state, expect=DONE
    ),
    "lead_actions.add_note": Route(
        method="POST", url_args=_lead, data=lambda s: {"text": "Notiz"}, snapshot=_counts, expect=DONE
    ),
    "lead_actions.add_task": Route(
        method="POST", url_args=_lead, data=lambda s: {"title": "Rückruf"}, snapshot=_counts, expect=DONE
    ),
    "lead_actions.merge_duplicate": Route(
        method="POST",
        setup=_flagged_duplicate,
        url_args=lambda s: {"lead_id": s.lead, "flag_id": s.extra["flag_id"]},
        snapshot=_flag_state,
        expect=DONE,
    ),
    "lead_actions.dismiss_duplicate": Route(
        method="POST",
        setup=_flagged_duplicate,
        url_args=lambda s: {"lead_id": s.lead, "flag_id": s.extra["flag_id"]},
        snapshot=_flag_state,
        expect=DONE,
    ),
}
