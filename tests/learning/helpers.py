"""Shared steps of the learned-score tests: generated history into the CRM, and a model put in force."""

from __future__ import annotations

from crm.extensions import db
from crm.learning import history_generator, history_writer, store, training
from crm.learning.history_generator import HistoryLead
from crm.models import ScoreModel
from crm.services.scoring_config import load_rules


def decided_and_open(n_decided: int, n_open: int, seed: int = 3) -> list[HistoryLead]:
    leads = history_generator.generate(4 * (n_decided + n_open) + 40, seed=seed)
    decided = [lead for lead in leads if lead.outcome is not None][:n_decided]
    still_open = [lead for lead in leads if lead.outcome is None][:n_open]
    assert len(decided) == n_decided and len(still_open) == n_open
    return decided + still_open


def write_history(leads: list[HistoryLead], tag: str = "h") -> list[int]:
    """Write `leads` into the current company and commit; their lead ids in order."""
    written = history_writer.write(leads, tag=tag)
    db.session.commit()
    return written.lead_ids


def promote_generated_model(n: int = 1500, seed: int = 23) -> ScoreModel:
    """Train on generated history in memory and put the model in force in the current company (committed)."""
    rules = load_rules()
    result = training.train(
        history_generator.examples(history_generator.generate(n, seed=seed), rules), rules.freemail_domains
    )
    assert isinstance(result, training.Trained)
    ev = result.evaluation
    model = training.StoredModel(**{**result.model.__dict__, "version": store.next_version()})
    row = store.save_candidate(model, ev.as_dict(), ev.train_rows, ev.holdout_rows, ev.trained_until)
    store.promote(row, "tests")
    db.session.commit()
    return row
