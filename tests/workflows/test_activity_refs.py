"""The typed activity references the workflows call (workflows/activity_refs.py) match what the workers
register: same activity name, same input types, same result type, and every registered activity has one.

Read through temporalio's own activity definitions, i.e. exactly what a worker registers and what
`workflow.execute_activity` sends and decodes with.
"""

from __future__ import annotations

import pytest
from temporalio import activity

from activities.crm_activities import CrmActivities
from activities.provider_activities import ProviderActivities
from activities.report_activities import ReportActivities
from workflows import activity_refs


def _defn(fn) -> activity._Definition:
    return activity._Definition.must_from_callable(fn)


def _registered() -> dict[str, activity._Definition]:
    """The activities the chain, provider and report workers register (their `all()` lists); the
    instances are never run, so they get no app, providers or mailer."""
    registered = [
        *CrmActivities(None).all(),
        *ProviderActivities(None, None, None).all(),
        *ReportActivities(None, None, default_language="de").all(),
    ]
    return {_defn(fn).name: _defn(fn) for fn in registered}


STUBS = [*activity_refs.CRM_STEPS, *activity_refs.PROVIDER_STEPS, *activity_refs.REPORT_STEPS]


@pytest.mark.parametrize("stub", STUBS, ids=lambda fn: fn.__name__)
def test_stub_matches_the_registered_activity(stub) -> None:
    ref = _defn(stub)
    impl = _registered().get(ref.name)
    assert impl is not None, f"no worker registers an activity named {ref.name!r}"
    assert ref.name == stub.__name__, "a stub is named after its activity"
    assert ref.arg_types == impl.arg_types, f"{ref.name}: input types differ"
    assert ref.ret_type == impl.ret_type, f"{ref.name}: result types differ"


def test_every_registered_activity_has_a_typed_reference() -> None:
    assert sorted(_registered()) == sorted(_defn(stub).name for stub in STUBS)


def test_the_check_sees_a_mismatch() -> None:
    """The comparison above is not vacuous: a stub with another input type or name is told apart."""

    @activity.defn(name="score_lead")
    async def wrong_input(inp: int) -> activity_refs.ScoreResult:
        raise NotImplementedError

    @activity.defn(name="score_leads")
    async def wrong_name(inp: activity_refs.ScoreInput) -> activity_refs.ScoreResult:
        raise NotImplementedError

    registered = _registered()
    assert _defn(wrong_input).arg_types != registered["score_lead"].arg_types
    assert _defn(wrong_name).name not in registered
    assert _defn(activity_refs.score_lead).arg_types == registered["score_lead"].arg_types
