"""One i18n mechanism (crm/catalogs.py): every text of the UI, the emails and the reports is a gettext msgid
with a text in every language (German, English, French) in crm/locales/<lang>/LC_MESSAGES/<domain>.po.

* Every msgid the code and the templates mark (extracted with babel's own extractors and the repo's
  babel.cfg, as ``pybabel extract`` does) has a non-empty text in every language, plural forms included.
* The .po files parse, pass babel's checks (placeholders, plural forms), compile, have no fuzzy entry, and
  every language carries the same msgids.
* The msgids translated later (the N_ tables of crm/ui/display_labels.py, the reports' key tables and
  definitions) are all in every catalogue.
* A German and a French lead page (score breakdown, a timeline of several kinds, the chain's history, an
  open task of every kind) show their language's words and none of the English of the labels they show.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.support import Translations

from crm import catalogs
from crm.extensions import db
from crm.reports import definitions
from crm.reports import i18n as report_i18n
from crm.services import money
from crm.ui import display_labels
from tests.ui.conftest import UIClient, create_team, signed_in
from tests.ui.test_leads_pages import FakeGateway, text_of
from workflows.payloads import ChainStatus, StepRecord
from workflows.vocabulary import TaskKind

ROOT = Path(__file__).resolve().parents[1]
# The domain of a text is the folder it is extracted from (babel.cfg).
DOMAIN_DIRS = {"ui": "crm/ui", "email": "crm/email", "reports": "crm/reports"}
LANGUAGES = catalogs.LANGUAGES
assert set(LANGUAGES) >= {"de", "en", "fr"}  # the languages the checks below must cover


def _key(msgid: str | tuple[str, ...], context: str | None) -> str:
    singular = msgid[0] if isinstance(msgid, (list, tuple)) else msgid
    return f"{context}\x04{singular}" if context else singular


def extracted(domain: str) -> dict[str, tuple[str | tuple[str, ...], str]]:
    """{key: (msgid, where)} for every text marked in the domain's folder, as pybabel extract finds it."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: dict[str, tuple[str | tuple[str, ...], str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT / DOMAIN_DIRS[domain]), method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        found.setdefault(_key(message, context), (message, f"{DOMAIN_DIRS[domain]}/{filename}:{lineno}"))
    return found


def _entries(language: str, domain: str) -> dict[str, object]:
    return {_key(m.id, m.context): m for m in catalogs.read_catalog(language, domain) if m.id}


@pytest.mark.parametrize("domain", sorted(DOMAIN_DIRS))
def test_every_marked_text_has_a_text_in_every_language(domain):
    marked = extracted(domain)
    assert len(marked) > {"ui": 600, "email": 40, "reports": 200}[domain]  # the extraction works
    for language in LANGUAGES:
        entries = _entries(language, domain)
        problems = []
        for key, (msgid, where) in sorted(marked.items()):
            entry = entries.get(key)
            if entry is None:
                problems.append(f"{where}: {key!r} is not in {language}/{domain}.po")
                continue
            if isinstance(msgid, tuple):  # a plural: the .po entry is one too, with the same plural msgid
                if not isinstance(entry.id, (list, tuple)) or tuple(entry.id) != msgid:
                    problems.append(f"{where}: {key!r} is a plural in the code but not in {language}/{domain}.po")
                    continue
            texts = entry.string if isinstance(entry.string, (list, tuple)) else [entry.string]
            if not texts or not all(texts) or entry.fuzzy:
                problems.append(f"{where}: {key!r} has no (confirmed) text in {language}/{domain}.po")
        assert not problems, "\n".join(problems)


@pytest.mark.parametrize("domain", sorted(DOMAIN_DIRS))
def test_the_catalogues_parse_check_and_compile_and_agree(domain):
    keys = {}
    for language in LANGUAGES:
        catalog = catalogs.read_catalog(language, domain)
        assert not catalog.fuzzy, f"{language}/{domain}.po: the header is marked fuzzy"
        assert catalog.num_plurals == 2
        assert catalog.plural_expr == {"fr": "(n > 1)"}.get(language, "(n != 1)")  # French: 0 is singular
        fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
        assert not fuzzy, f"{language}/{domain}.po: fuzzy entries {fuzzy}"
        errors = [(m.id, [str(e) for e in errs]) for m, errs in catalog.check()]
        assert not errors, f"{language}/{domain}.po: {errors}"
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        compiled = Translations(io.BytesIO(buffer.getvalue()), domain=domain)
        singles = [m for m in catalog if m.id and isinstance(m.id, str) and not m.context]
        assert singles and all(compiled.ugettext(m.id) == m.string for m in singles)  # the .mo says the .po
        assert isinstance(catalogs.translations(language, domain), Translations)
        keys[language] = set(_entries(language, domain))
    for language in LANGUAGES:
        assert keys[language] == keys["en"], (
            language,
            sorted(keys[language] - keys["en"]),
            sorted(keys["en"] - keys[language]),
        )


def test_the_english_catalogue_says_the_msgid_where_the_msgid_is_english():
    """en msgstr = msgid, except for the keys of long paragraphs (definition.<figure>) and contexts."""
    for domain in DOMAIN_DIRS:
        for message in catalogs.read_catalog("en", domain):
            if not message.id or (isinstance(message.id, str) and message.id.startswith("definition.")):
                continue
            ids = list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]
            texts = list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]
            assert texts == ids, (domain, message.id, message.string)


def test_the_texts_translated_later_are_in_every_catalogue():
    """The label tables (stages, score reasons and factors, task kinds, timeline steps, call outcomes, gate
    and stop reasons, email templates, ...) and the chain's task titles: display_labels' N_ msgids; the
    reports' key tables and the definitions of the appendix."""
    ui = {language: catalogs.messages(language, "ui") for language in LANGUAGES}
    for kind in ("stage", "score_reason", "task_kind", "outcome", "gate_reason", "stop_reason", "email_template"):
        assert kind in display_labels.LABELS  # the tables the issue names are there
    wanted = {msgid for table in display_labels.LABELS.values() for msgid in table.values()}
    wanted |= set(display_labels.CHAIN_TASK_TITLES)
    for language in LANGUAGES:
        missing = sorted(m for m in wanted if not ui[language].get(m))
        assert not missing, f"{language}/ui.po lacks {missing}"
    reports = {language: catalogs.messages(language, "reports") for language in LANGUAGES}
    report_ids = [_key(m[1], m[0]) if isinstance(m, tuple) else m for m in report_i18n.TEXTS.values()]
    report_ids += [_key(msgid, context) for context, msgid in report_i18n.LABELS.values()]
    report_ids += [money.CONVERTED, money.NO_RATE]  # crm/services/money.py, outside the extracted folders
    for section in definitions.SECTIONS:
        report_ids.append(_key(section.heading[1], section.heading[0]))
        report_ids += [_key(f.title[1], f.title[0]) for f in section.figures] + [f.msgid for f in section.figures]
    for language in LANGUAGES:
        missing = sorted(m for m in report_ids if not reports[language].get(m))
        assert not missing, f"{language}/reports.po lacks {missing}"


# ------------------------------------------------------------------------------ a German lead page

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# (task kind, title): the chain's own titles, the inbound reply's (written in the lead's language, here
# English) and a rep's own (shown as typed).
TASKS = (
    (TaskKind.APPOINTMENT, "Prepare the booked appointment"),
    (TaskKind.CALLBACK, "Call back the interested lead"),
    (TaskKind.EMAIL_REPLY, "Email reply from Erika Muster"),
    (TaskKind.PREPARE, "Unterlagen drucken"),
    (TaskKind.TODO, "Angebot schicken"),
    (TaskKind.FOLLOW_UP, "Nachfassen nach der Messe"),
    (TaskKind.REVIEW, "Dublette prüfen"),
)
# (stage, detail) as the workflow writes them (workflows/lead_chain.py): the chain's history.
HISTORY = (
    ("qualifying", "intake"),
    ("calling", "call retell"),
    ("waiting_for_retry", "attempt 1: no_answer"),
    ("waiting_for_window", "no call: outside_hours (score 71)"),
    ("calling", "attempt 2"),
    ("following_up", "interested: handed to the owner"),
)


def _lead_with_a_history(app, owner_id: int) -> int:
    """A lead scored by the real model (source, completeness, domain, consent, interest, engagement, a
    call outcome), with calls, an email, an appointment booked on a call, audit rows of the chain and the
    CRM, and one open task of every kind."""
    from crm.models import (
        Appointment,
        AppointmentStatus,
        AuditEntry,
        Channel,
        ConsentRecord,
        Direction,
        Interaction,
        InteractionKind,
        Lead,
        LegalBasis,
        Task,
    )
    from crm.services.scoring import score_lead

    with app.app_context():
        lead = Lead(
            first_name="Erika",
            last_name="Muster",
            company="Muster Maschinenbau GmbH",
            email="erika@muster-maschinenbau.example",
            email_key="erika@muster-maschinenbau.example",
            phone_e164="+4915112345600",
            source="website",
            interest="Demo",
            language="en",
            owner_id=owner_id,
            chain_id="chain-erika",
            chain_stage="following_up",
        )
        db.session.add(lead)
        db.session.flush()
        lid = lead.id
        db.session.add_all(
            [
                ConsentRecord(
                    lead_id=lid,
                    channel=channel,
                    legal_basis=LegalBasis.EXPRESS_CONSENT,
                    source="website",
                    proof_text="website: consent field answered 'yes'",
                    proof_key=f"p-{channel.value}",
                    given_at=T0,
                )
                for channel in (Channel.PHONE, Channel.EMAIL)
            ]
        )
        db.session.add_all(
            [
                Interaction(
                    lead_id=lid,
                    kind=InteractionKind.CALL,
                    direction=Direction.OUTBOUND,
                    provider="retell",
                    provider_ref="call-erika-1",
                    status="no_answer",
                    started_at=T0 + timedelta(minutes=5),
                ),
                Interaction(
                    lead_id=lid,
                    kind=InteractionKind.CALL,
                    direction=Direction.OUTBOUND,
                    provider="retell",
                    provider_ref="call-erika-2",
                    status="ended",
                    outcome="interested",
                    sentiment="positive",
                    duration_s=95,
                    started_at=T0 + timedelta(hours=2),
                ),
                Interaction(
                    lead_id=lid,
                    kind=InteractionKind.EMAIL,
                    direction=Direction.OUTBOUND,
                    provider="sendgrid",
                    provider_ref="msg-erika",
                    status="clicked",
                    subject="follow_up",
                    created_at=T0 + timedelta(hours=3),
                    data={"opens": 2, "clicks": 1},
                ),
                Appointment(
                    lead_id=lid,
                    owner_id=owner_id,
                    starts_at=T0 + timedelta(days=2),
                    ends_at=T0 + timedelta(days=2, minutes=30),
                    status=AppointmentStatus.CONFIRMED,
                    title="Consultation with Beispiel Vertrieb (Anna Sales)",
                    location="Phone call: we will call you",
                ),
            ]
        )
        db.session.add_all(
            Task(lead_id=lid, owner_id=owner_id, kind=kind, title=title, due_at=T0 + timedelta(days=1, hours=n))
            for n, (kind, title) in enumerate(TASKS)
        )
        db.session.flush()
        score_lead(lid, actor="chain", reason="intake")
        score_lead(lid, actor="chain", reason="rescore")
        at = T0
        for stage, detail in HISTORY:
            at += timedelta(minutes=1)
            db.session.add(
                AuditEntry(
                    actor="chain",
                    action=f"chain.{stage}",
                    entity_type="lead",
                    entity_id=lid,
                    after={"detail": detail},
                    at=at,
                )
            )
        db.session.add_all(
            [
                AuditEntry(
                    actor="system:call-gate",
                    action="call.refused",
                    entity_type="lead",
                    entity_id=lid,
                    after={"reason": "outside_hours", "next_window_start": "2026-03-03T08:00:00+00:00"},
                    at=at,
                ),
                AuditEntry(
                    actor="chain",
                    action="task.created",
                    entity_type="lead",
                    entity_id=lid,
                    after={"kind": "callback"},
                    at=at,
                ),
            ]
        )
        db.session.commit()
        return lid


def _shown(language: str) -> dict[str, str]:
    """{English msgid: its text in `language`} for the labels the page below must show."""
    labels = display_labels.LABELS
    factors = [labels["factor"][k] for k in ("source", "has_phone", "business_domain", "phone_consent")]
    factors += [labels["factor"][k] for k in ("stated_interest", "email_opens", "email_clicks")]
    wanted = factors + [labels["task_kind"][str(kind)] for kind, _title in TASKS]
    wanted += [labels["stage"][stage] for stage, _detail in HISTORY] + list(display_labels.CHAIN_TASK_TITLES)
    wanted += [labels["score_reason"][r] for r in ("intake", "rescore")] + [labels["gate_reason"]["outside_hours"]]
    wanted += [labels["outcome"][o] for o in ("interested", "no_answer")] + [labels["email_template"]["follow_up"]]
    wanted += ["Email reply from %(name)s", "Consultation with %(company)s (%(owner)s)"]
    wanted += ["Phone call: we will call you", "Call: %(outcome)s", "attempt %(num)s: %(outcome)s"]
    wanted += ["%(outcome)s: handed to the owner", "no call: %(reason)s (score %(score)s)", "Call not allowed"]
    texts = catalogs.messages(language, "ui")
    assert [m for m in wanted if not texts.get(m)] == [], f"not in {language}/ui.po"
    return {msgid: str(texts[msgid]) for msgid in wanted}


def _fixed(text: str) -> str:
    """The words of a msgid around its placeholders (what must, or must not, show)."""
    text = text.replace("\xa0", " ")  # French: a no-break space before ":" (the page's text has it as a space)
    return max(re.split(r"%\(\w+\)[sd]", text), key=len).strip(" :()")


@pytest.fixture
def ui_app(app):
    """The app (tests/conftest.py) with the UI tests' client, as tests/ui/conftest.py sets it up."""
    app.test_client_class = UIClient
    return app


@pytest.mark.parametrize(("language", "query"), [("de", ""), ("fr", "?lang=fr")], ids=["German", "French"])
def test_a_lead_page_shows_its_labels_in_its_language(ui_app, language, query):
    """The signed-in rep's own language (German by default), or French by the language switch's ?lang=."""
    team = create_team(ui_app)
    lead_id = _lead_with_a_history(ui_app, team.sales_a.id)
    ui_app.extensions["leadchain.temporal"] = FakeGateway(
        live={
            "chain-erika": ChainStatus(
                chain_id="chain-erika",
                lead_id=lead_id,
                stage="following_up",
                next_step="waiting for the lead",
                next_at=None,
                paused=False,
                attempts=2,
                cycle=0,
                history=[StepRecord(T0 + timedelta(minutes=n), s, d) for n, (s, d) in enumerate(HISTORY)],
            )
        }
    )
    client = signed_in(ui_app, team.sales_a)
    response = client.get(f"/leads/{lead_id}{query}")
    assert response.status_code == 200
    page = text_of(response)
    assert f'<html lang="{language}"' in response.get_data(as_text=True)
    shown = _shown(language)
    missing = [f"{msgid!r} → {_fixed(text)!r}" for msgid, text in shown.items() if _fixed(text) not in page]
    assert not missing, f"{language} missing from the {language} lead page:\n" + "\n".join(missing)
    # The English of each label, where it differs from the translation, is nowhere on the page (whole
    # words, case-sensitive: the translated words are capitalised differently or differ).
    english = [
        _fixed(msgid)
        for msgid, text in shown.items()
        if _fixed(msgid) != _fixed(text) and _fixed(msgid) not in _fixed(text)
    ]
    found = [w for w in english if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", page)]
    assert not found, f"English on the {language} lead page: {found}"
    # The same page in English shows the English (the check above is not blind).
    page_en = text_of(client.get(f"/leads/{lead_id}?lang=en"))
    assert [w for w in english if w not in page_en] == []


# ------------------------------------------------------------------------------ a French lead comes in


def test_a_french_lead_comes_in_through_the_intake_schema():
    """The one schema behind the API, the web-form webhooks and the CSV import takes "fr", refuses a
    language outside the list naming the field, and guesses French for a lead from France."""
    from marshmallow import ValidationError

    from crm.schemas.lead import LeadInSchema, WebFormLeadSchema
    from crm.services import normalize

    lead = LeadInSchema().load({"email": "claire@exemple.fr", "language": "fr"})
    assert lead.language == "fr"
    assert WebFormLeadSchema(default_source="website").load({"email": "a@b.example", "language": "fr"}).language == "fr"
    with pytest.raises(ValidationError) as refused:
        LeadInSchema().load({"email": "claire@exemple.fr", "language": "it"})
    assert list(refused.value.messages) == ["language"] and "fr" in str(refused.value.messages["language"])
    assert LeadInSchema().load({"email": "claire@exemple.fr", "country": "FR"}).language == "fr"
    assert normalize.language_for(None, None, "claire@exemple.fr", None) == "fr"
    assert normalize.language_for(None, "CH", None, None) == "de"  # Switzerland: the form's field decides
