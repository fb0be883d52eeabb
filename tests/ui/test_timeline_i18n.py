"""crm/ui/display.py: every code and every text the chain and the CRM write in English has German and
English words, and a text it does not know is shown verbatim (never an error).

The samples are not a hand list of today's texts: the chain's details are read from the workflow's source
(every literal or f-string passed to _timeline/_set_stage/_finish/_record/_sleep/_qualify in
workflows/lead_chain.py, and the re-open decisions of crm/services/chain_reopen.py), the score factors
come from running the real scoring model, and the consent proof from the real intake. A new detail in the
workflow without a translation fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from crm import catalogs, create_app
from crm.extensions import db
from crm.services import scoring
from crm.ui import display, display_labels
from tests.conftest import WEBHOOK_SECRETS, make_test_secrets
from tests.helpers import post_signed, process
from workflows import vocabulary

ROOT = Path(__file__).resolve().parents[2]
APP = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}, secrets=make_test_secrets())
# Words that are the same in both languages (a label equal in DE and EN is otherwise a missing translation).
SAME_IN_BOTH = {"Warm", "Neutral", "Status", "Score", "B2B", "Freemail", "SMS", "Name"}
# English words the German UI uses as they are (the team's vocabulary: "Lead", "Score").
GERMAN_TOO = {"lead", "leads", "score"}


def render(lang: str, fn, *args):
    with APP.test_request_context(f"/?lang={lang}"):
        return fn(*args)


# ------------------------------------------------------------------------------------------- labels


@pytest.mark.parametrize("kind", sorted(display.LABELS))
def test_every_code_has_german_and_english_words(kind):
    german = catalogs.messages("de", "ui")
    for code, msgid in display.LABELS[kind].items():
        assert isinstance(german.get(msgid), str), f"{kind}.{code}: no German for {msgid!r}"
        de, en = render("de", display.label, kind, code), render("en", display.label, kind, code)
        assert en == msgid, (kind, code, en)
        assert de != en or en in SAME_IN_BOTH, f"{kind}.{code}: German {de!r} is the English"
    assert render("de", display.label, kind, "something_new") == "something_new"  # unknown: as stored
    assert render("de", display.label, kind, None) == "–"


def test_every_msgid_of_the_module_has_german():
    """Each _()/ngettext()/N_() text in crm/ui/display.py and its label table (display_labels.py) is in the
    catalogue."""
    trees = [ast.parse((ROOT / path).read_text()) for path in ("crm/ui/display.py", "crm/ui/display_labels.py")]
    ids = {
        node.args[0].value
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) in ("_", "N_", "ngettext")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    german = catalogs.messages("de", "ui")
    assert len(ids) > 150
    assert sorted(i for i in ids if i not in german) == []


def test_the_chains_stages_and_gate_reasons_are_all_known():
    from crm.services import compliance

    source = (ROOT / "crm/services/compliance.py").read_text()
    reasons = set(re.findall(r'GateDecision\(\s*(?:True|False), "(\w+)"', source))
    by_member = re.findall(r"GateDecision\(\s*(?:True|False), GateReason\.(\w+)", source)
    reasons |= {vocabulary.GateReason[name] for name in by_member}
    assert {"no_consent", "outside_hours", "score_below_threshold"} <= reasons
    assert reasons <= set(display.LABELS["gate_reason"])
    assert compliance  # imported: the module the reasons come from exists
    # every code of the shared vocabulary has words on the page
    for kind, codes in (
        ("stage", [*vocabulary.ChainStage, *vocabulary.TimelineStep]),
        ("outcome", [*vocabulary.CallOutcome, *vocabulary.RETRY_STATUSES]),
        ("call_status", list(vocabulary.CallStatus)),
        ("gate_reason", list(vocabulary.GateReason)),
        ("stop_reason", list(vocabulary.StopReason)),
        ("task_kind", list(vocabulary.TaskKind)),
        ("email_template", list(vocabulary.EmailTemplate)),
        ("score_reason", list(vocabulary.ScoreReason)),
    ):
        assert sorted(set(codes) - set(display.LABELS[kind])) == [], f"{kind}: codes without words"


# ------------------------------------------------------------------------------- the chain's details

# A value for each expression the workflow formats into a detail (unparsed source -> sample values).
SAMPLES = {
    "self._attempts": ["2"],
    "result.status": ["no_answer", "busy", "voicemail", "completed", "failed"],
    "placed.provider": ["retell"],
    "gate.reason": sorted(display.LABELS["gate_reason"]),
    "score.score": ["35"],
    "kind": ["interested", "callback_requested", "not_interested"],
    "kind or result.status": ["interested", "completed"],
    "stopped.reason": sorted(display.LABELS["stop_reason"]),
    "forward": ["lead-3f2a9c"],
    "sent.reason": ["no email address", "address bounced", "do not contact"],
    "template": ["follow_up", "nurture"],
    "error_cause(e)": ["ProviderRejected: 429 Too Many Requests"],
    "step + 1": ["2"],
    "stage": ["nurturing"],
    "submission_id": ["7"],
    "result.outcome": ["created", "duplicate"],
    "placed.refused": ["outside_hours"],
    "until:%Y-%m-%d %H:%M": ["2026-12-07 09:00"],
    "result.previous_stage": ["booked"],
    "reason": [
        "asked not to be contacted",
        "ended 3 days ago; re-opened only 30 days after the end",
        "an appointment is still ahead",
        "new form fill 40 days after the end",
    ],
    "int(since.total_seconds() // 86400)": ["3"],
    "reopen_after_days": ["30"],
}
DETAIL_ARG = {"_timeline": 1, "_set_stage": 1, "_finish": 1, "_record": 1, "_sleep": 2, "_qualify": 0}


def _code(node: ast.AST) -> str | None:
    """The string of a literal or of a vocabulary member (`ChainStage.BOOKED` -> "booked"), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        enum = getattr(vocabulary, node.value.id, None)
        if enum is not None and node.attr in getattr(enum, "__members__", {}):
            return str(enum[node.attr])
    return None


def _expand(node: ast.AST) -> list[tuple[str, list[str]]]:
    """(text, its literal English parts) for every sample of a detail expression."""
    if (code := _code(node)) is not None:
        return [(code, [code])]
    if isinstance(node, ast.JoinedStr):
        texts: list[tuple[str, list[str]]] = [("", [])]
        for part in node.values:
            if isinstance(part, ast.Constant):
                texts = [(t + part.value, lits + [part.value]) for t, lits in texts]
                continue
            expr = ast.unparse(part.value) + (f":{ast.unparse(part.format_spec)[2:-1]}" if part.format_spec else "")
            assert expr in SAMPLES, f"add a sample value for {expr!r} to SAMPLES"
            texts = [(t + v, lits) for t, lits in texts for v in SAMPLES[expr]]
        return texts
    expr = ast.unparse(node)
    assert expr in SAMPLES, f"add a sample value for {expr!r} to SAMPLES"
    return [(v, []) for v in SAMPLES[expr]]


def chain_details() -> list[tuple[str, str, list[str]]]:
    """(stage, detail, literal English words) of every detail the workflow and the re-open step write."""
    found = []
    tree = ast.parse((ROOT / "workflows/lead_chain.py").read_text())
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in DETAIL_ARG):
            continue
        index = DETAIL_ARG[node.func.attr]
        if len(node.args) <= index:
            continue
        arg = node.args[index]
        if isinstance(arg, ast.Name) and arg.id in ("detail", "next_step", "reason"):
            continue  # passed through from a caller whose literal is collected there
        if isinstance(arg, ast.BoolOp) and ast.unparse(arg) == "next_step or ''":
            continue
        stage = _code(node.args[0]) if node.func.attr != "_qualify" else None
        found += [(stage, text, lits) for text, lits in _expand(arg)]
    reopen = ast.parse((ROOT / "crm/services/chain_reopen.py").read_text())
    for node in ast.walk(reopen):
        if isinstance(node, ast.JoinedStr) and ast.unparse(node).startswith(("f'chain re-opened", "f'new submission")):
            found += [(None, text, lits) for text, lits in _expand(node)]
    assert len(found) > 40, "the workflow's details were not found: did lead_chain.py change its helpers?"
    return found


def _english_words(literals: list[str]) -> set[str]:
    return {w.lower() for lit in literals for w in re.findall(r"[A-Za-z]{4,}", lit)}


@pytest.mark.parametrize("stage, detail, literals", chain_details())
def test_every_chain_detail_reads_in_german_and_english(stage, detail, literals):
    assert display.match_rule(detail) is not None, f"no rule recognises {detail!r} (crm/ui/display.py _RULES)"
    de, en = render("de", display.chain_text, stage, detail), render("en", display.chain_text, stage, detail)
    assert de and en and de != en, (detail, de, en)
    left = {w for w in _english_words(literals) - GERMAN_TOO if re.search(rf"\b{w}\b", de.lower())}
    assert not left, f"{detail!r} in German is {de!r}: English {sorted(left)} left"
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", de), f"a code in {de!r}"  # no_answer, outside_hours, ...


def test_details_with_their_values():
    assert render("de", display.chain_text, "call", "attempt 2: no_answer") == "Versuch 2: Nicht erreicht"
    assert render("en", display.chain_text, "call", "attempt 2: no_answer") == "attempt 2: No answer"
    assert (
        render("de", display.chain_text, "gate", "no call: no_consent (score 35)")
        == "kein Anruf: keine Einwilligung in Anrufe (Score 35)"
    )
    assert (
        render("de", display.chain_text, "handed_over", "interested: handed to the owner")
        == "Interessiert: an den Betreuer übergeben"
    )
    assert (
        render("de", display.chain_text, "paused", "paused in waiting_for_retry")
        == "pausiert in „Wartet auf den nächsten Versuch“"
    )
    assert (
        render("en", display.chain_text, "call", "no conversation after 1 attempts: email path")
        == "no conversation after 1 attempt: continuing by email"
    )
    # an error text from a provider stays as it was written (it is not ours to translate)
    assert (
        render("de", display.chain_text, "email", "follow_up not sent: ProviderRejected: 400 bad")
        == "Nachfass-E-Mail nicht gesendet: ProviderRejected: 400 bad"
    )


@settings(max_examples=300, deadline=None)
@given(stage=st.one_of(st.none(), st.text(max_size=30)), detail=st.one_of(st.none(), st.text(max_size=200)))
def test_any_detail_is_shown_never_an_error(stage, detail):
    for lang in ("de", "en"):
        shown = render(lang, display.chain_text, stage, detail)
        assert isinstance(shown, str)
        if detail and display.match_rule(detail) is None:
            assert shown == detail.strip()  # unknown: verbatim


def test_unknown_details_stay_verbatim():
    for text in ("something the workflow will say tomorrow", "attempt two", "call: 1 2 3", "{'need': 'x'}"):
        assert render("de", display.chain_text, "call", text) == text


# ------------------------------------------------------------------------------------- score factors


def _every_factor() -> list[scoring.Factor]:
    rules = scoring.load_rules()
    keyword = next(iter(rules.interest_keywords))
    outcomes = tuple(sorted(rules.call_outcomes)) + ("no_answer",)
    facts = [
        scoring.LeadFacts(
            source=source,
            has_phone=True,
            has_email=True,
            has_company=True,
            has_full_name=True,
            email_domain=domain,
            phone_consent=True,
            email_consent=True,
            interest_text=interest,
            engagement=scoring.Engagement(opens=3, clicks=1, call_outcomes=outcomes),
            note_text=f"Bitte {keyword} anbieten",
        )
        for source, domain, interest in (
            ("website", "firma.example", "Angebot"),
            ("api-crm-sync", "gmail.com", None),
            ("somewhere-new", None, None),
            ("", None, None),
        )
    ]
    return [f for fact in facts for f in scoring.compute(fact, rules).factors]


def test_every_score_factor_has_german_and_english_words():
    factors = _every_factor()
    rules_keywords = set(scoring.load_rules().interest_keywords)  # the matched word is quoted as it is
    names = {f.name for f in factors}
    assert {
        "source",
        "has_phone",
        "business_domain",
        "freemail_domain",
        "phone_consent",
        "stated_interest",
        "email_opens",
        "email_clicks",
    } <= names and any(n.startswith("call:") for n in names)
    for f in factors:
        name_de, name_en = render("de", display.factor_name, f.name), render("en", display.factor_name, f.name)
        assert name_de != f.name and name_en != f.name and (name_de != name_en or name_en in SAME_IN_BOTH), f.name
        assert "_" not in name_de, name_de
        detail_de = render("de", display.factor_detail, f.name, f.detail)
        if f.name.endswith("_domain"):
            assert detail_de == f.detail  # a domain name is shown as it is
            continue
        english = {
            w
            for w in re.findall(r"[a-z]{4,}", f.detail)
            if w not in ("website", "sync", "somewhere")
            and w not in f.detail.split(" (")[0].split("-")
            and w not in rules_keywords
        }
        left = {w for w in english if re.search(rf"\b{w}\b", detail_de)}
        assert not left, f"{f.name}: {f.detail!r} in German is {detail_de!r}"


# --------------------------------------------------------------- consent, tasks, actors and the audit log


def test_consent_proof_from_the_real_intake_reads_in_german(app):
    from crm.models import ConsentRecord

    r = post_signed(
        app.test_client(),
        "website",
        {
            "first_name": "Erika",
            "last_name": "Muster",
            "email": "erika@muster.example",
            "phone": "+4930231250",
            "phone_consent": "ja",
        },
        WEBHOOK_SECRETS[0],
    )
    process(app, r)
    with app.app_context():
        proof = db.session.scalar(sa.select(ConsentRecord.proof_text))
    with app.test_request_context("/?lang=de"):
        assert display.consent_proof(proof) == "website: Einwilligungsfeld beantwortet mit „ja“"
    with app.test_request_context("/?lang=en"):
        assert display.consent_proof(proof) == "website: consent field answered “ja”"
    assert (
        render("de", display.consent_proof, "Messe Hannover (recorded by Anna Admin, user 4)")
        == "Messe Hannover (erfasst von Anna Admin)"
    )
    assert render("de", display.consent_proof, "unterschriebenes Formular") == "unterschriebenes Formular"


def test_the_chains_task_titles_and_a_reps_own():
    source = (ROOT / "workflows/lead_chain.py").read_text()
    titles = re.findall(r'self\._task\(TaskKind\.\w+, "([^"]+)"', source)
    assert titles and set(titles) <= set(display_labels.CHAIN_TASK_TITLES)
    assert render("de", display.task_title, "Prepare the booked appointment") == "Gebuchten Termin vorbereiten"
    assert render("de", display.task_title, "Call back the interested lead") == "Interessierten Lead zurückrufen"
    assert render("de", display.task_title, "Lieferschein prüfen") == "Lieferschein prüfen"


def test_the_titles_written_in_the_leads_language_are_shown_in_the_pages():
    """The inbound reply's task (crm/webhooks/sendgrid_inbound.py) and the appointment booked on a call
    (voice/bridge/booking.py) are titled in the lead's language; the page shows them in its own."""
    inbound = (ROOT / "crm/webhooks/sendgrid_inbound.py").read_text()
    booking = (ROOT / "voice/bridge/booking.py").read_text()
    # The reply task's title is the ui catalogue's msgid in the lead's language (French included).
    assert '"Email reply from %(name)s"' in inbound and "catalogs.gettext(lang" in inbound
    assert 'f"Beratungsgespräch mit {name} ({owner.name})"' in booking and 'f"Consultation with {name}' in booking
    assert '"Telefonat: wir rufen Sie an"' in booking and '"Phone call: we will call you"' in booking
    written = {
        lang: catalogs.gettext(lang, "ui", "Email reply from %(name)s", name="Eve O'Brien")
        for lang in catalogs.LANGUAGES
    }
    assert len(set(written.values())) == len(catalogs.LANGUAGES)  # each language its own words
    for title in written.values():
        for lang, text in written.items():
            assert render(lang, display.task_title, title) == text
    for title in ("Consultation with ACME (Anna Sales)", "Beratungsgespräch mit ACME (Anna Sales)"):
        assert render("de", display.appointment_title, title) == "Beratungsgespräch mit ACME (Anna Sales)"
        assert render("en", display.appointment_title, title) == "Consultation with ACME (Anna Sales)"
    for place in ("Phone call: we will call you", "Telefonat: wir rufen Sie an"):
        assert render("de", display.appointment_location, place) == "Telefonat: wir rufen Sie an"
        assert render("en", display.appointment_location, place) == "Phone call: we will call you"
    assert render("de", display.appointment_title, "Demo bei ACME") == "Demo bei ACME"  # a rep's own: as typed


def test_actors_and_audit_rows_in_words(app):
    from tests.ui.conftest import create_team

    team = create_team(app)
    with app.test_request_context("/?lang=de"):
        assert display.actor(f"user:{team.admin.id}") == team.admin.name  # settings: "gespeichert von user:2"
        assert display.actor(f"ui:{team.sales_a.id}") == team.sales_a.name
        assert display.actor("chain") == "der Kette" and display.actor("system:call-gate") == "der Anrufprüfung"
        assert display.actor("voice-bridge:call_123") == "dem Sprachassistenten"
        assert display.actor("webhook:website") == "dem Webformular website"
        assert display.audit_title("lead.booked") == "Termin gebucht"
        assert display.audit_title("chain.waiting_for_retry") == "Kette: Wartet auf den nächsten Versuch"
        assert display.audit_title("lead.something_new") == "Änderung protokolliert"
        lines = display.audit_lines("lead.assigned", {"owner_id": (None, team.sales_a.id)})
        assert lines == [f"Betreuer: – → {team.sales_a.name}"]
        lines = display.audit_lines(
            "lead.qualification",
            {},
            {
                "qualification": {
                    "need": "5 Standorte",
                    "timing": "Q3",
                    "decision_maker": "yes",
                    "call_id": "c1",
                    "updated_at": "x",
                }
            },
        )
        assert lines == ["Qualifizierung: Bedarf: 5 Standorte; Zeitrahmen: Q3; Entscheider: ja"]
        lines = display.audit_lines("lead.scored", {"priority": ("warm", "hot"), "tags": (["warm"], ["hot", "b2b"])})
        assert lines == ["Priorität: Warm → Heiß", "Schlagwörter: Warm → Heiß, B2B"]
        lines = display.audit_lines(
            "call.refused",
            {},
            {"reason": "outside_hours", "detail": "Sat 22:00 in ...", "next_window_start": "2026-12-07T08:00:00+00:00"},
        )
        assert lines == ["Grund: außerhalb der Anrufzeiten · nächstes Anruffenster 07.12.26, 09:00"]
        assert display.audit_lines("lead.do_not_contact", {"do_not_contact": (False, True)}) == [
            "Nicht kontaktieren: nein → ja"
        ]
