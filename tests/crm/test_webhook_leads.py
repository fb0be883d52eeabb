"""POST /webhooks/leads/<source>: signature, replay, validation and intake, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import AuditEntry, ConsentRecord, Interaction, Lead, LeadSubmission, PossibleDuplicate, WebhookDelivery
from crm.services.normalize import match_key
from tests.conftest import WEBHOOK_SECRETS
from tests.helpers import post_signed, process, signed_headers

LEAD = {
    "first_name": " Jürgen ",
    "last_name": "Müller",
    "company": "<b>Müller</b> Haustechnik GmbH",
    "email": "J.Mueller+Promo@Example.DE",
    "phone": "030 23125101",
    "phone_consent": "Ja (Formular)",
    "utm_campaign": "herbst",
    "note": "Rückruf erwünscht",
}
TABLES = (Lead, ConsentRecord, Interaction, AuditEntry, WebhookDelivery, PossibleDuplicate, LeadSubmission)


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {m.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in TABLES}


def test_signed_lead_is_normalised_and_stored(app, client):
    r = post_signed(client, "website", LEAD, WEBHOOK_SECRETS[0])
    assert r.status_code == 202, r.get_json()
    accepted = r.get_json()
    assert accepted["status"] == "accepted" and accepted["chain_id"].startswith("c1-lead-")
    # The chain id is a keyed hash: no personal data goes to Temporal.
    assert "mueller" not in accepted["chain_id"] and "23125101" not in accepted["chain_id"]
    assert counts(app)["leads"] == 0  # the chain's import step runs the intake
    body = process(app, r)
    assert body["outcome"] == "created"
    with app.app_context():
        lead = db.session.get(Lead, body["lead_id"])
        assert (lead.first_name, lead.last_name) == ("Jürgen", "Müller")
        assert lead.email == "j.mueller+promo@example.de" and lead.email_key == "j.mueller@example.de"
        assert lead.phone_e164 == "+493023125101" and lead.phone_timezone == "Europe/Berlin"
        assert lead.company == "<b>Müller</b> Haustechnik GmbH"  # stored as text, escaped on output
        assert lead.source == "website" and lead.utm_campaign == "herbst" and lead.language == "de"
        consent = db.session.scalars(sa.select(ConsentRecord)).one()
        assert consent.channel.value == "phone" and consent.legal_basis.value == "express_consent"
        assert "Ja (Formular)" in consent.proof_text and consent.withdrawn_at is None
        note = db.session.scalars(sa.select(Interaction)).one()
        assert note.kind.value == "note" and note.summary == "Rückruf erwünscht"
        actions = set(db.session.scalars(sa.select(AuditEntry.action)))
        assert {"lead.created", "consent.recorded"} <= actions


def test_form_encoded_web_to_lead(app, client):
    body = urlencode({"first_name": "Anna", "email": "anna@firma.de", "submit": "Senden"}).encode()
    headers = signed_headers(WEBHOOK_SECRETS[1], body, content_type="application/x-www-form-urlencoded")
    r = client.post("/webhooks/leads/website", data=body, headers=headers)
    assert process(app, r)["outcome"] == "created"


@pytest.mark.parametrize("secret", WEBHOOK_SECRETS)
def test_every_active_secret_verifies_during_rotation(client, secret):
    assert post_signed(client, "website", LEAD, secret).status_code == 202


def test_signature_list_with_one_valid_entry(client):
    body = json.dumps(LEAD).encode()
    headers = signed_headers(WEBHOOK_SECRETS[0], body)
    bogus = "v1," + "A" * 44
    headers["webhook-signature"] = f"{bogus} v1a,whatever {headers['webhook-signature']}"
    assert client.post("/webhooks/leads/website", data=body, headers=headers).status_code == 202


FORGED = "whsec_" + "Zm9yZ2VkLXNlY3JldC1mb3JnZWQtc2VjcmV0LWZvcmdlZA=="


@pytest.mark.parametrize(
    "case",
    [
        "wrong_secret",
        "tampered",
        "stale",
        "future",
        "no_headers",
        "garbage_sig",
        "bad_timestamp",
        "other_sources_secret",
    ],
)
def test_forged_and_stale_deliveries_change_nothing(app, client, case):
    before = counts(app)
    body = json.dumps(LEAD).encode()
    source = "website"
    headers = signed_headers(WEBHOOK_SECRETS[0], body)
    if case == "wrong_secret":
        headers = signed_headers(FORGED, body)
    elif case == "tampered":
        body = body.replace(b"Anna", b"Anne") if b"Anna" in body else body[:-2] + b" }"
    elif case == "stale":
        headers = signed_headers(WEBHOOK_SECRETS[0], body, timestamp=int(time.time()) - 301)
    elif case == "future":
        headers = signed_headers(WEBHOOK_SECRETS[0], body, timestamp=int(time.time()) + 301)
    elif case == "no_headers":
        headers = {"Content-Type": "application/json"}
    elif case == "garbage_sig":
        headers["webhook-signature"] = "not-a-signature"
    elif case == "bad_timestamp":
        headers["webhook-timestamp"] = "yesterday"
    elif case == "other_sources_secret":
        source = "partner"  # partner only trusts WEBHOOK_SECRETS[1]
    r = client.post(f"/webhooks/leads/{source}", data=body, headers=headers)
    assert r.status_code == 401
    assert r.is_json and r.get_json()["code"] == 401
    assert counts(app) == before


@pytest.mark.parametrize("source", ["nosuchsource", "Website", "a" * 65])
def test_a_source_without_a_secret_is_an_unknown_source(app, client, source):
    # Not "invalid or stale signature": a sender with a typo in its URL must learn what is wrong.
    before = counts(app)
    r = post_signed(client, source, LEAD, WEBHOOK_SECRETS[0])
    assert r.status_code == 404 and r.get_json()["message"] == "unknown source"
    assert counts(app) == before


def test_replayed_delivery_is_a_noop_with_the_same_answer(app, client):
    body = json.dumps(LEAD).encode()
    headers = signed_headers(WEBHOOK_SECRETS[0], body, msg_id="msg_replay_1")
    first = client.post("/webhooks/leads/website", data=body, headers=headers)
    after_first = counts(app)
    again = client.post("/webhooks/leads/website", data=body, headers=headers)
    # A provider retry: same id, fresh timestamp and signature (and even the other active secret).
    retry_headers = signed_headers(WEBHOOK_SECRETS[1], body, msg_id="msg_replay_1")
    retry = client.post("/webhooks/leads/website", data=body, headers=retry_headers)
    assert first.status_code == again.status_code == retry.status_code == 202
    assert first.get_json() == again.get_json() == retry.get_json()
    assert counts(app) == after_first
    assert after_first["lead_submissions"] == 1 and after_first["webhook_deliveries"] == 1
    process(app, first)
    assert process(app, retry)["outcome"] == "created"  # processing the same submission again: no-op
    assert counts(app)["leads"] == 1


def test_one_delivery_sent_many_times_at_once_is_stored_once(app):
    """A sender retrying before the first answer came: 8 copies of one delivery at the same moment. Only one
    look-up guards the insert (issue 21); the delivery's unique key makes the others replay the winner."""
    body = json.dumps(LEAD).encode()
    headers = signed_headers(WEBHOOK_SECRETS[0], body, msg_id="msg_at_once_1")
    barrier = threading.Barrier(8)
    answers: list[tuple[int, dict]] = []

    def send() -> None:
        with app.test_client() as c:
            barrier.wait(timeout=30)
            r = c.post("/webhooks/leads/website", data=body, headers=headers)
            answers.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(answers) == 8 and {status for status, _ in answers} == {202}, answers
    assert len({json.dumps(answer, sort_keys=True) for _, answer in answers}) == 1  # every copy: the winner's
    stored = counts(app)
    assert stored["lead_submissions"] == 1 and stored["webhook_deliveries"] == 1


def test_same_person_again_under_a_new_delivery_id_merges(app, client):
    first = post_signed(client, "website", LEAD, WEBHOOK_SECRETS[0])
    process(app, first)
    same = {**LEAD, "email": "j.mueller@EXAMPLE.de", "phone": "+49 30 23125101"}
    r = post_signed(client, "website", same, WEBHOOK_SECRETS[0])
    assert r.get_json()["chain_id"] == first.get_json()["chain_id"]  # same person, same chain
    assert process(app, r)["outcome"] == "duplicate"
    assert counts(app)["leads"] == 1


def test_new_data_fills_gaps_but_never_overwrites(app, client):
    first = post_signed(client, "website", {"email": "lea@klein.de", "company": "Klein AG"}, WEBHOOK_SECRETS[0])
    lead_id = process(app, first)["lead_id"]
    r = post_signed(
        client,
        "website",
        {"email": "lea@klein.de", "first_name": "Lea", "phone": "+49 89 99998188", "company": "Klein & Söhne"},
        WEBHOOK_SECRETS[0],
    )
    result = process(app, r)
    assert result == {**result, "lead_id": lead_id, "outcome": "updated"}
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        assert (lead.first_name, lead.phone_e164, lead.company) == ("Lea", "+498999998188", "Klein AG")
        updated = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "lead.updated")).one()
        assert updated.after["first_name"] == "Lea" and updated.before["first_name"] is None
        conflict = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "lead.intake_conflict")).one()
        assert conflict.before == {"company": "Klein AG"} and conflict.after == {"company": "Klein & Söhne"}


def test_phone_match_merges_even_with_other_email(app, client):
    process(app, post_signed(client, "website", {"email": "a@firma.de", "phone": "0152 28817105"}, WEBHOOK_SECRETS[0]))
    r = post_signed(client, "website", {"phone": "(0152) 2881 7105", "last_name": "Becker"}, WEBHOOK_SECRETS[0])
    assert process(app, r)["outcome"] == "updated"
    assert counts(app)["leads"] == 1


def test_fuzzy_name_match_is_flagged_not_merged(app, client):
    a = process(
        app,
        post_signed(
            client,
            "website",
            {
                "first_name": "Björn",
                "last_name": "Müller",
                "company": "Müller Haustechnik GmbH",
                "email": "bjoern@mueller-haustechnik.de",
            },
            WEBHOOK_SECRETS[0],
        ),
    )
    b = process(
        app,
        post_signed(
            client,
            "website",
            {
                "first_name": "Bjoern",
                "last_name": "Mueller",
                "company": "Mueller Haustechnik",
                "email": "b.mueller@gmail.com",
            },
            WEBHOOK_SECRETS[0],
        ),
    )
    assert b["outcome"] == "created" and b["flagged_duplicates"] == [a["lead_id"]]
    c = process(
        app,
        post_signed(
            client,
            "website",
            {"first_name": "Bernd", "last_name": "Müller", "company": "Bäckerei Nord", "email": "bernd@baeckerei.de"},
            WEBHOOK_SECRETS[0],
        ),
    )
    assert c["flagged_duplicates"] == []
    with app.app_context():
        pair = db.session.scalars(sa.select(PossibleDuplicate)).one()
        assert {pair.lead_id, pair.candidate_id} == {a["lead_id"], b["lead_id"]} and pair.status == "open"
    assert counts(app)["leads"] == 3


def test_in_a_big_company_a_lead_that_comes_again_spelled_otherwise_is_flagged(app, client):
    """The search compares at most 200 leads of the same folded last name: the newest (migration 0030). With 300
    earlier Müllers of other firms, 200 arbitrary ones (what it read before) missed the one just imported."""
    with app.app_context():
        db.session.add_all(
            Lead(
                first_name=f"Kunde{i}",
                last_name="Müller",
                company=f"Firma {i} GmbH",
                source="import",
                match_key=match_key("Müller"),
            )
            for i in range(300)
        )
        db.session.commit()
    first = {"first_name": "Björn", "last_name": "Müller", "company": "Müller Haustechnik GmbH"}
    a = process(app, post_signed(client, "website", {**first, "email": "bjoern@mh.de"}, WEBHOOK_SECRETS[0]))
    again = {"first_name": "Bjoern", "last_name": "Mueller", "company": "Mueller Haustechnik", "email": "b@gmx.de"}
    b = process(app, post_signed(client, "website", again, WEBHOOK_SECRETS[0]))
    assert b["outcome"] == "created" and b["flagged_duplicates"] == [a["lead_id"]]


def test_invalid_lead_names_every_bad_field_and_stores_nothing(app, client):
    before = counts(app)
    r = post_signed(
        client,
        "website",
        {
            "email": "max.mustermann@",
            "phone": "telefon: keine",
            "created_at": "31.11.2026",
            "phone_consent": "vielleicht",
            "language": "tlh",
        },
        WEBHOOK_SECRETS[0],
    )
    assert r.status_code == 422
    errors = r.get_json()["errors"]
    assert set(errors) == {"email", "phone", "created_at", "phone_consent", "language"}
    assert counts(app) == before


def test_no_contact_at_all_is_rejected(client):
    r = post_signed(client, "website", {"company": "Firma ohne Kontakt GmbH"}, WEBHOOK_SECRETS[0])
    assert r.status_code == 422
    assert "email address or a phone number" in json.dumps(r.get_json()["errors"])


@pytest.mark.parametrize(
    "body,content_type,status",
    [
        (b"{not json", "application/json", 400),
        (b"\xff\xfe\x00", "application/json", 400),
        (b"[1, 2]", "application/json", 422),
        (b"<lead/>", "application/xml", 415),
        (b"x" * (300 * 1024), "application/json", 413),
    ],
)
def test_bad_bodies_get_clear_4xx(app, client, body, content_type, status):
    before = counts(app)
    r = client.post(
        "/webhooks/leads/website",
        data=body,
        headers=signed_headers(WEBHOOK_SECRETS[0], body, content_type=content_type),
    )
    assert r.status_code == status
    assert r.is_json and r.get_json()["code"] == status
    assert counts(app) == before


def test_webhook_answers_json_401_not_500_for_odd_sources(client):
    for source in ("A" * 100, "..", "%00"):
        r = client.post(f"/webhooks/leads/{source}", data=b"{}", headers={"Content-Type": "application/json"})
        assert r.status_code in (401, 404)
        assert r.is_json


def test_unknown_fields_with_nul_are_refused_not_stored(app, client):
    # Unknown fields of a web form are ignored for the lead but kept in the raw payload, which PostgreSQL's
    # jsonb refuses when it holds \u0000: that was a 500 after the signature had been checked.
    before = counts(app)
    r = post_signed(client, "website", {**LEAD, "honeypot": "\u0000"}, WEBHOOK_SECRETS[0])
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"honeypot"}
    r = post_signed(client, "website", {**LEAD, "extra": {"deep": ["\ud83d"]}}, WEBHOOK_SECRETS[0])
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"extra"}
    body = b"[" * 100_000 + b"]" * 100_000
    r = client.post("/webhooks/leads/website", data=body, headers=signed_headers(WEBHOOK_SECRETS[0], body))
    assert r.status_code == 400 and "json" in r.get_json()["errors"]
    assert counts(app) == before


# Issue 14 items 3 and 5: poison numbers, a reused webhook-id, JSON as text/plain.
POISON = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


@pytest.mark.parametrize("number", POISON)
@pytest.mark.parametrize("field,template", [("score", "{}"), ("phone", "{}"), ("extra", '{{"deep": [1, {}]}}')])
def test_non_finite_numbers_are_a_400_naming_the_field(app, client, number, field, template):
    # Python's json reads these (and 1e400 as infinity); PostgreSQL's jsonb refuses them: that was a 500.
    before = counts(app)
    fields = {k: v for k, v in LEAD.items() if k != field}
    body = (json.dumps(fields)[:-1] + f', "{field}": ' + template.format(number) + "}").encode()
    r = client.post("/webhooks/leads/website", data=body, headers=signed_headers(WEBHOOK_SECRETS[0], body))
    assert r.status_code == 400, r.get_json()
    errors = r.get_json()["errors"]
    assert list(errors) == [field if field != "extra" else "extra.deep.1"]
    assert counts(app) == before


def test_same_webhook_id_with_another_body_is_a_422_and_stores_nothing(app, client):
    first_body = json.dumps(LEAD).encode()
    first = client.post(
        "/webhooks/leads/website", data=first_body, headers=signed_headers(WEBHOOK_SECRETS[0], first_body, msg_id="m1")
    )
    assert first.status_code == 202
    after_first = counts(app)
    other = json.dumps({**LEAD, "email": "someone.else@example.de", "phone": "030 9999999"}).encode()
    r = client.post(
        "/webhooks/leads/website", data=other, headers=signed_headers(WEBHOOK_SECRETS[0], other, msg_id="m1")
    )
    assert r.status_code == 422, r.get_json()
    assert set(r.get_json()["errors"]) == {"webhook-id"}
    assert counts(app) == after_first
    # The same id with the same body stays an idempotent 202 with the first answer.
    again = client.post(
        "/webhooks/leads/website", data=first_body, headers=signed_headers(WEBHOOK_SECRETS[1], first_body, msg_id="m1")
    )
    assert again.status_code == 202 and again.get_json() == first.get_json()
    assert counts(app) == after_first


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=utf-8", "application/octet-stream"])
def test_signed_json_as_text_plain_is_a_415(app, client, content_type):
    before = counts(app)
    body = json.dumps(LEAD).encode()
    r = client.post(
        "/webhooks/leads/website",
        data=body,
        headers=signed_headers(WEBHOOK_SECRETS[0], body, content_type=content_type),
    )
    assert r.status_code == 415 and r.get_json()["code"] == 415
    assert counts(app) == before
