"""Every id a report shows as a word (chain stages, stop reasons, call outcomes, end statuses, sentiments,
priorities) has a German and an English label, checked against the code that sets the ids; a German PDF
with every stage and outcome in it shows none of the ids nor their English words (text read with pypdf)."""

from __future__ import annotations

import ast
import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pypdf import PdfReader

from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind, Lead, Priority
from crm.reports import i18n
from crm.reports.kpis import PRIORITIES, SENTIMENTS, compute
from crm.reports.pdf import render_pdf
from crm.reports.periods import daily
from workflows.vocabulary import ChainStage, StopReason

ROOT = Path(__file__).resolve().parents[2]
SHOWN = (
    i18n.CALL_OUTCOMES
    + i18n.END_STATUSES
    + i18n.SENTIMENT_IDS
    + i18n.PRIORITY_IDS
    + i18n.CHAIN_STAGES
    + i18n.CALL_STATUSES
)


def _stages_in_the_chain() -> set[str]:
    """The stages workflows/lead_chain.py sets (_set_stage, _sleep, _finish, its first stage) and the stop
    reasons (a stopped chain ends in its reason's stage), read from the workflow's source: vocabulary
    members (`ChainStage.NURTURING`) or, in older code, literals."""
    # The first stage is set where the chain's state is built (workflows/chain_state.py).
    trees = [ast.parse((ROOT / "workflows" / name).read_text()) for name in ("lead_chain.py", "chain_state.py")]
    tree = ast.Module(body=[stmt for t in trees for stmt in t.body], type_ignores=[])
    position = {"_set_stage": 0, "_finish": 0, "_sleep": 1}
    nodes: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in position:
            if len(node.args) > position[node.func.attr]:
                nodes.append(node.args[position[node.func.attr]])
        if isinstance(node, ast.AnnAssign | ast.Assign) and "self._stage" in ast.unparse(node).split("=")[0]:
            nodes += [n for n in ast.walk(node.value) if isinstance(n, ast.Attribute | ast.Constant)]
    stages = set()
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            stages.add(node.value)
        elif isinstance(node, ast.Attribute) and ast.unparse(node.value) == "ChainStage":
            stages.add(str(ChainStage[node.attr]))
    return stages | {str(reason) for reason in StopReason}


def test_the_label_lists_cover_what_the_code_sets():
    from providers import events as provider_events
    from providers.events import CLASSIFICATIONS
    from providers.events import SENTIMENTS as VOICE_SENTIMENTS

    stages = _stages_in_the_chain()
    assert {"waiting_for_retry", "waiting_for_window", "nurturing", "booked", "cancelled"} <= stages  # the parse works
    assert stages <= set(i18n.CHAIN_STAGES)
    assert set(CLASSIFICATIONS) == set(i18n.CALL_OUTCOMES)
    assert set(VOICE_SENTIMENTS) == set(SENTIMENTS) == set(i18n.SENTIMENT_IDS)
    assert set(PRIORITIES) == set(i18n.PRIORITY_IDS)
    events = Path(provider_events.__file__).read_text()
    end = re.search(r"end_status: .*#\s*([a-z_ |]+)", events).group(1)
    assert {s.strip() for s in end.split("|")} <= set(i18n.END_STATUSES)


def test_every_id_has_a_german_and_an_english_label():
    for key in SHOWN:
        de, en = i18n.Formatter("de").label(key), i18n.Formatter("en").label(key)
        assert key in i18n.LABELS, key
        assert "_" not in de and "_" not in en
    # Words that differ between the languages do: only true cognates (Neutral, Warm) are the same.
    same = {k for k in SHOWN if i18n.Formatter("de").label(k) == i18n.Formatter("en").label(k)}
    assert same == {"neutral", "warm"}
    # French: every id has its own label too; "Nurturing" is the word French sales teams use.
    fr = i18n.Formatter("fr")
    assert all(key in i18n.LABELS and "_" not in fr.label(key) for key in SHOWN)
    assert {k for k in SHOWN if fr.label(k) == i18n.Formatter("en").label(k)} == {"nurturing"}


def _seed_every_label(day: date) -> None:
    start = daily(day).start + timedelta(hours=9)
    for n, stage in enumerate(i18n.CHAIN_STAGES):
        lead = Lead(
            first_name=f"Lead{n}",
            source="website",
            score=60,
            priority=Priority.WARM,
            chain_stage=None if stage == "none" else stage,
            created_at=start + timedelta(minutes=n),
        )
        db.session.add(lead)
        db.session.flush()
        outcomes = i18n.CALL_OUTCOMES + i18n.END_STATUSES
        outcome = outcomes[n % len(outcomes)]
        classified = outcome in i18n.CALL_OUTCOMES
        data = {"answered": classified}
        if not classified and outcome != "pending":
            data["end_status"] = outcome
        db.session.add(
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="retell",
                provider_ref=f"label-{n}",
                status="ended" if outcome != "pending" else "queued",
                outcome=outcome if classified else None,
                sentiment="negative",
                duration_s=60 if classified else None,
                started_at=start + timedelta(minutes=30 + n),
                data=data,
            )
        )
    db.session.commit()


def test_german_pdf_has_no_english_ids(ctx):
    day = date(2026, 3, 4)
    _seed_every_label(day)
    report = compute(daily(day), now=datetime(2026, 3, 5, 12, tzinfo=UTC))
    assert {b.key for b in report.current.leads.chain_stages} == set(i18n.CHAIN_STAGES)
    assert {b.key for b in report.current.calls.outcomes} == set(i18n.CALL_OUTCOMES + i18n.END_STATUSES)
    pages = [p.extract_text() or "" for p in PdfReader(io.BytesIO(render_pdf(report, "de"))).pages]
    text = re.sub(r"\s+", " ", " ".join(pages).replace("\xa0", " "))
    # Case-sensitive: the ids are lower case, the English labels capitalised ("negative Stimmung" is German).
    for key in i18n.CHAIN_STAGES + i18n.CALL_OUTCOMES + i18n.END_STATUSES + ("negative",):
        german, english = i18n.Formatter("de").label(key), i18n.Formatter("en").label(key)
        assert german in text, key
        raws = {english} if key == "negative" else {key, key.replace("_", " "), english}
        for raw in raws - {german}:
            assert not re.search(rf"(?<![\w-]){re.escape(raw)}(?![\w-])", text), (key, raw)
