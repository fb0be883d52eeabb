"""Benchmark: training the learned lead score on 100,000 leads, beside reading the same rows from the database,
and scoring one lead (docs/scoring.md "Figures").

    .venv/bin/python bench/learned_score.py [--leads N] [--database-url URL] [--seed S] [--samples K]

1. Generates N leads over 18 months (crm.learning.history_generator, default 100,000, seed 23) and writes them
   with their consents, calls, emails and deals into a company of its own ("bench-<random>"), in a fresh
   SQLite file by default, or in the database at --database-url (PostgreSQL; migrated to head first).
2. Reads every lead's signals and outcome back (crm.learning.retrain.examples: the rival, same process), then
   trains and judges a candidate on them (crm.learning.training.train: the split, the fit and the hold-out
   figures), then the whole weekly step as the activity runs it (read + train + store,
   crm.learning.retrain.train). Prints train / read as the ratio, and the hold-out AUC against the rule score's,
   the Brier score and the calibration error.
3. Promotes the candidate and scores K open leads one at a time: the learned part (crm.learning.blend.for_lead:
   its reads and the dot product) and the whole score_lead (rule facts, blend, history row; rolled back),
   p50 and p95 in milliseconds.

Exit status: 0 when training took under 60 s and the learned part of one score under 5 ms at p50; 1 when not;
2 when the benchmark could not run. The default SQLite file is removed at the end; in a database given by
--database-url the bench's company and its rows stay (give it a throwaway database).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm import create_app  # noqa: E402
from crm.extensions import db  # noqa: E402
from crm.learning import blend, history_generator, history_writer, retrain, store, training  # noqa: E402
from crm.models import Lead, LeadStatus, ScoreModel  # noqa: E402
from crm.models.companies import Company  # noqa: E402
from crm.secrets import EnvSecrets  # noqa: E402
from crm.services import scoring  # noqa: E402
from crm.tenancy.context import company_scope, operator_scope  # noqa: E402
from crm.tenancy.rls import as_owner  # noqa: E402

TRAIN_BUDGET_S = 60.0
SCORE_BUDGET_MS = 5.0


def _app(url: str):
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url}, secrets=EnvSecrets({"LEADCHAIN_SECRET_APP_CHAIN_KEY": "bench"}))
    with app.app_context():
        upgrade(directory=str(ROOT / "crm" / "migrations"))
    return app


def _company(app) -> int:
    with app.app_context(), operator_scope("bench", "the learned-score bench's own company"):
        company = Company(slug=f"bench-{uuid.uuid4().hex[:8]}", name="Bench GmbH")
        db.session.add(company)
        db.session.commit()
        return company.id


def _analyze() -> None:
    """ANALYZE every table. On PostgreSQL as the tables' owner: the tenant role the app's connections take
    may not analyze them (PostgreSQL skips them with a warning)."""
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            with as_owner(conn), conn.begin():
                conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


def _ms(values: list[float]) -> str:
    q = statistics.quantiles(values, n=20) if len(values) > 1 else values * 19
    return f"p50 {statistics.median(values) * 1000:.2f} ms, p95 {q[-1] * 1000:.2f} ms"


def run(args: argparse.Namespace) -> int:
    if args.database_url:
        return measure(args, args.database_url)
    folder = Path(tempfile.mkdtemp(prefix="leadchain-bench-"))
    try:
        return measure(args, f"sqlite:///{folder / 'learned.db'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(args: argparse.Namespace, url: str) -> int:
    app = _app(url)
    company_id = _company(app)
    print(f"database: {url.split('@')[-1]}; company {company_id}; {args.leads:,} leads, seed {args.seed}")
    with app.app_context(), company_scope(company_id):
        t0 = time.perf_counter()
        leads = history_generator.generate(args.leads, seed=args.seed)
        t1 = time.perf_counter()
        history_writer.write(leads, tag="bench")
        db.session.commit()
        t2 = time.perf_counter()
        # Fresh statistics after a bulk load, as PostgreSQL's autovacuum would gather them: without them
        # SQLite reads a lead's calls through the company index (every row of the company) instead of lead_id.
        _analyze()
        print(f"generate {t1 - t0:.2f} s; write into the CRM {t2 - t1:.2f} s; ANALYZE {time.perf_counter() - t2:.2f} s")

        rules = scoring.rules_in_force()
        t3 = time.perf_counter()
        examples = retrain.examples(rules)
        read_s = time.perf_counter() - t3
        t4 = time.perf_counter()
        result = training.train(examples, rules.freemail_domains, version=store.next_version())
        train_s = time.perf_counter() - t4
        if not isinstance(result, training.Trained):
            print(f"not enough data: {result}")
            return 2
        ev = result.evaluation
        print(f"read {len(examples):,} closed leads (signals + outcomes + rule scores): {read_s:.2f} s")
        print(f"train + judge (split, fit on {ev.train_rows:,}, hold-out {ev.holdout_rows:,}): {train_s:.2f} s")
        print(f"ratio train / read: {train_s / read_s:.2f}")
        print(
            f"hold-out: AUC learned {ev.auc:.3f} vs rules {ev.rule_auc:.3f}; Brier {ev.brier:.4f} "
            f"(base rate alone {ev.base_rate * (1 - ev.base_rate):.4f}); calibration error (10 bins) {ev.ece:.4f}"
        )
        t5 = time.perf_counter()
        report = retrain.train(f"bench-{uuid.uuid4().hex[:8]}", rules)
        whole_s = time.perf_counter() - t5
        print(f"the weekly step as the activity runs it (read + train + store): {whole_s:.2f} s -> {report.outcome}")
        row = db.session.get(ScoreModel, report.model_id)
        assert row is not None, report
        store.promote(row, "bench")
        db.session.commit()

        open_ids = list(
            db.session.scalars(
                db.select(Lead.id).where(Lead.status == LeadStatus.NURTURING).order_by(Lead.id).limit(args.samples)
            )
        )
        blend.for_lead(open_ids[0])  # the model is parsed once per stored row
        learned, whole = [], []
        for lead_id in open_ids:
            s0 = time.perf_counter()
            blend.for_lead(lead_id)
            s1 = time.perf_counter()
            scoring.score_lead(lead_id, actor="bench", reason="bench")
            whole.append(time.perf_counter() - s1)
            learned.append(s1 - s0)
            db.session.rollback()
        print(f"scoring one lead, learned part ({len(open_ids)} leads): {_ms(learned)}")
        print(f"scoring one lead, whole score_lead (rule facts + blend + history row): {_ms(whole)}")
    ok = whole_s < TRAIN_BUDGET_S and statistics.median(learned) * 1000 < SCORE_BUDGET_MS
    budgets = f"train < {TRAIN_BUDGET_S:.0f} s, learned part p50 < {SCORE_BUDGET_MS:.0f} ms"
    print(f"budgets ({budgets}): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--leads", type=int, default=100_000)
    p.add_argument("--database-url", help="SQLAlchemy URL (PostgreSQL); default: a fresh SQLite file")
    p.add_argument("--seed", type=int, default=23)
    p.add_argument("--samples", type=int, default=200, help="open leads scored one at a time")
    args = p.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        return 2


if __name__ == "__main__":
    sys.exit(main())
