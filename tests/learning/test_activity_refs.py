"""The score-model workflow's typed activity references (workflows/score_model_refs.py) match what its worker
registers (activities/score_model_activities.py): names, input and result types, and nothing unreferenced."""

from __future__ import annotations

from temporalio import activity

from activities.score_model_activities import ScoreModelActivities
from workflows.score_model_refs import SCORE_MODEL_STEPS


def _defn(fn) -> activity._Definition:
    return activity._Definition.must_from_callable(fn)


def test_the_stubs_match_the_registered_activities():
    registered = {_defn(fn).name: _defn(fn) for fn in ScoreModelActivities(None).all()}  # type: ignore[arg-type]
    assert sorted(registered) == sorted(_defn(stub).name for stub in SCORE_MODEL_STEPS)
    for stub in SCORE_MODEL_STEPS:
        ref, impl = _defn(stub), registered[_defn(stub).name]
        assert (ref.arg_types, ref.ret_type) == (impl.arg_types, impl.ret_type), ref.name
