"""The weekly retraining on the Temporal dev server (tests/temporal_fixtures.py), with generated history
written into PostgreSQL: each company's schedule starts ScoreModelWorkflow under that company's header.

* Company 1 (1,200 generated leads): the run trains, beats the rule score on the newest quarter and is
  promoted; the next score of an open lead records "learned-v1". A second run trains the same model again,
  which does not beat the one in force (a tie keeps it): "kept".
* Company 2 (12 closed outcomes): "not enough data", no model, and the rule score stays.

Each run's history then replays against the workflow code (determinism)."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from temporalio.worker import Replayer

from crm import create_app
from crm.extensions import db
from crm.learning import history_generator
from crm.models import ScoreModel, ScoreModelStatus, ScoreTrainingRun
from crm.services import scoring
from crm.tenancy.context import company_scope
from tests.conftest import _wipe, make_test_secrets
from tests.learning.helpers import decided_and_open, write_history
from tests.tenancy.companies import second_company
from workers import score_model as score_model_worker
from workers.schedules import CompanySchedule
from workflows.score_model import ScoreModelWorkflow
from workflows.score_model_payloads import ScoreModelOutcome

pytestmark = pytest.mark.tenancy


@pytest.fixture
def app(migrated_urls):
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]}, secrets=make_test_secrets()
    )
    _wipe(app)
    yield app
    _wipe(app)


async def _run_once(client, handle, ran: list) -> ScoreModelOutcome:
    before = len((await handle.describe()).info.recent_actions)
    await handle.trigger()
    deadline = asyncio.get_running_loop().time() + 30
    while len((desc := await handle.describe()).info.recent_actions) == before:
        assert asyncio.get_running_loop().time() < deadline, "the trigger started nothing"
        await asyncio.sleep(0.2)
    started = desc.info.recent_actions[-1].action
    run = client.get_workflow_handle(
        started.workflow_id, run_id=started.first_execution_run_id, result_type=ScoreModelOutcome
    )
    ran.append(run)
    return await asyncio.wait_for(run.result(), 90)


def _runs(app, company_id: int) -> list[tuple[str, int, int, int]]:
    with app.app_context(), company_scope(company_id):
        rows = db.session.scalars(sa.select(ScoreTrainingRun).order_by(ScoreTrainingRun.id)).all()
        return [(r.outcome, r.closed_rows, r.won_rows, r.lost_rows) for r in rows]


async def test_the_weekly_run_trains_judges_and_promotes_per_company(temporal_env, app, monkeypatch):
    client = temporal_env.client
    queue = f"score-model-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(score_model_worker, "SCHEDULE_PREFIX", f"test-score-model-{uuid.uuid4().hex[:8]}")
    other = second_company(app)
    with app.app_context():
        with company_scope(1):
            ids = write_history(history_generator.generate(1200, seed=23))
            open_lead = next(
                i
                for i, lead in zip(ids, history_generator.generate(1200, seed=23), strict=True)
                if lead.outcome is None
            )
        with company_scope(other):
            write_history(decided_and_open(12, 2), tag="o")
        db.session.remove()
    executor = ThreadPoolExecutor(max_workers=1)
    worker = score_model_worker.score_model_worker(client, app, executor, task_queue=queue)
    companies = [CompanySchedule(1), CompanySchedule(other)]
    sids = await score_model_worker.upsert_score_model_schedules(
        client, app, lambda app: (companies, []), task_queue=queue
    )
    first_company, second = (client.get_schedule_handle(sid) for sid in sids)
    ran: list = []
    try:
        async with worker:
            promoted = await _run_once(client, first_company, ran)
            assert (promoted.outcome, promoted.version, promoted.in_force_version) == ("promoted", 1, 1), promoted
            kept = await _run_once(client, first_company, ran)
            assert (kept.outcome, kept.version, kept.in_force_version) == ("kept", 2, 1), kept
            assert "does not beat the model in force" in (kept.reason or "")
            too_few = await _run_once(client, second, ran)
            assert (too_few.outcome, too_few.reason, too_few.version) == ("not_enough_data", "too_few_closed", None)
        # Deterministic: each run's history replays against the workflow code without a worker.
        replayer = Replayer(workflows=[ScoreModelWorkflow], data_converter=client.data_converter)
        for run in ran:
            await replayer.replay_workflow(await run.fetch_history())
    finally:
        for sid in sids:
            await client.get_schedule_handle(sid).delete()
        executor.shutdown(wait=False)

    runs = _runs(app, 1)
    assert [r[0] for r in runs] == ["promoted", "kept"] and runs[0][1] == runs[0][2] + runs[0][3] >= 50
    assert _runs(app, other) == [("not_enough_data", 12, *_runs(app, other)[0][2:])]
    with app.app_context(), company_scope(1):
        models = db.session.scalars(sa.select(ScoreModel).order_by(ScoreModel.version)).all()
        assert [(m.version, m.status) for m in models] == [
            (1, ScoreModelStatus.PROMOTED),
            (2, ScoreModelStatus.CANDIDATE),
        ]
        m = models[0].metrics
        assert m["auc"] > m["rule_auc"] and 0 <= m["ece"] < 0.1 and 0 < m["brier"] < 0.25
        assert isinstance(models[0].coefficients, list) and len(models[0].coefficients) == len(models[0].feature_names)
        assert scoring.score_lead(open_lead, actor="test", reason="test").model_version == "learned-v1"
        db.session.rollback()
    with app.app_context(), company_scope(other):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ScoreModel)) == 0
