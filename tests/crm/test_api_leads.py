"""/api/v1/leads: API keys, batches (all or nothing), Idempotency-Key, mass assignment, CSV upload."""

from __future__ import annotations

import io
import json

import pytest

from tests.conftest import API_KEY, SHARED_DATA
from tests.crm.test_webhook_leads import counts
from tests.helpers import process

AUTH = {"Authorization": f"Bearer {API_KEY}"}
ANNA = {"first_name": "Anna", "last_name": "Schmidt", "email": "anna.schmidt@acme.de", "phone": "+49 30 23125101"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"X-API-Key": "crm-sync"}, {"Authorization": "Basic Y3JtLXN5bmM6eA=="}],
)
def test_api_key_required(app, client, headers):
    r = client.post("/api/v1/leads", json=ANNA, headers=headers)
    assert r.status_code == 401 and r.headers.get("WWW-Authenticate") == "Bearer"
    assert counts(app)["leads"] == 0


def test_single_lead_created_then_duplicate(app, client):
    r = client.post("/api/v1/leads", json=ANNA, headers={"X-API-Key": API_KEY})
    first = process(app, r)
    assert first["outcome"] == "created"
    lead_id = first["lead_id"]
    r = client.post("/api/v1/leads", json={**ANNA, "email": "ANNA.SCHMIDT+x@acme.de"}, headers=AUTH)
    again = process(app, r)
    assert again == {**again, "lead_id": lead_id, "outcome": "duplicate"}
    got = client.get(f"/api/v1/leads/{lead_id}", headers=AUTH).get_json()
    assert got["email"] == "anna.schmidt@acme.de" and got["phone_e164"] == "+493023125101"
    assert got["source"] == "api-crm-sync"


def test_batch_all_or_nothing(app, client):
    good = [dict(ANNA), {"email": "ben@firma.de", "language": "en"}]
    bad = [*good, {"email": "broken@"}, {"phone": "abc", "owner_id": 3}]
    r = client.post("/api/v1/leads", json={"leads": bad}, headers=AUTH)
    assert r.status_code == 422
    errors = r.get_json()["errors"]
    assert set(errors) == {"2", "3"}
    assert set(errors["2"]) == {"email"} and set(errors["3"]) == {"phone", "owner_id"}
    assert counts(app)["leads"] == 0
    r = client.post("/api/v1/leads", json=good, headers=AUTH)
    assert r.status_code == 202 and r.get_json()["count"] == 2
    assert counts(app)["lead_submissions"] == 2
    assert len({a["chain_id"] for a in r.get_json()["accepted"]}) == 2


@pytest.mark.parametrize(
    "field,value",
    [
        ("owner_id", 1),
        ("role", "admin"),
        ("status", "booked"),
        ("score", 100),
        ("do_not_contact", False),
        ("merged_into_id", 1),
    ],
)
def test_mass_assignment_refused(app, client, field, value):
    r = client.post("/api/v1/leads", json={**ANNA, field: value}, headers=AUTH)
    assert r.status_code == 422 and field in r.get_json()["errors"]
    assert counts(app)["leads"] == 0


def test_idempotency_key_makes_a_retry_a_noop(app, client):
    headers = {**AUTH, "Idempotency-Key": "sync-2026-11-25-001"}
    first = client.post("/api/v1/leads", json=ANNA, headers=headers)
    after = counts(app)
    retry = client.post("/api/v1/leads", json=ANNA, headers=headers)
    assert first.status_code == retry.status_code == 202
    assert first.get_json() == retry.get_json()
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert counts(app) == after
    conflict = client.post("/api/v1/leads", json={**ANNA, "company": "Other"}, headers=headers)
    assert conflict.status_code == 422 and "Idempotency-Key" in conflict.get_json()["errors"]
    # Keys are per client: another client's same key is a different request.
    other = client.post(
        "/api/v1/leads",
        json={"email": "x@y.de"},
        headers={"Authorization": "Bearer another-key-987", "Idempotency-Key": "sync-2026-11-25-001"},
    )
    assert other.status_code == 202


@pytest.mark.parametrize(
    "body,content_type,status",
    [
        (b"{", "application/json", 400),
        (b"a=b", "application/x-www-form-urlencoded", 415),
        (b"[]", "application/json", 422),
        (b'{"leads": 5}', "application/json", 422),
        (json.dumps([{"email": f"p{i}@x.de"} for i in range(501)]).encode(), "application/json", 413),
    ],
)
def test_bad_api_bodies(app, client, body, content_type, status):
    r = client.post("/api/v1/leads", data=body, headers={**AUTH, "Content-Type": content_type})
    assert r.status_code == status and r.get_json()["code"] == status
    assert counts(app)["leads"] == 0


def test_csv_upload_imports_and_reports_rejections(app, client):
    data = (SHARED_DATA / "leads_excel_de.csv").read_bytes()
    r = client.post(
        "/api/v1/leads/import",
        headers=AUTH,
        data={"file": (io.BytesIO(data), "leads_excel_de.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["created"], body["rejected"]) == (122, 3)
    assert [row["line"] for row in body["rejected_rows"]] == [125, 126, 127]
    again = client.post("/api/v1/leads/import", headers={**AUTH, "Content-Type": "text/csv"}, data=data).get_json()
    assert (again["created"], again["updated"], again["duplicates"]) == (0, 0, 125)


def test_csv_upload_errors(client):
    assert (
        client.post(
            "/api/v1/leads/import", headers=AUTH, data={"x": "y"}, content_type="multipart/form-data"
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/leads/import", headers={**AUTH, "Content-Type": "application/pdf"}, data=b"%PDF"
        ).status_code
        == 415
    )
    r = client.post("/api/v1/leads/import", headers={**AUTH, "Content-Type": "text/csv"}, data=b"\x00\x01binary")
    assert r.status_code == 422 and "file" in r.get_json()["errors"]
    assert (
        client.post(
            "/api/v1/leads/import?region=Deutschland",
            headers={**AUTH, "Content-Type": "text/csv"},
            data=b"email\na@b.de\n",
        ).status_code
        == 422
    )


def test_unknown_lead_is_404_json(client):
    r = client.get("/api/v1/leads/999", headers=AUTH)
    assert r.status_code == 404 and r.get_json()["code"] == 404


def test_openapi_spec_documents_the_intake(client):
    spec = client.get("/api/openapi.json").get_json()
    assert {"/api/v1/leads", "/api/v1/leads/import", "/webhooks/leads/{source}"} <= set(spec["paths"])
    hook = spec["paths"]["/webhooks/leads/{source}"]["post"]
    assert {p["name"] for p in hook["parameters"]} >= {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert "401" in hook["responses"] and "422" in hook["responses"]


def test_nesting_deeper_than_the_stack_is_a_400(app, client):
    # json.loads raised RecursionError, which parse_body did not catch: a 500.
    body = b"[" * 100_000 + b"]" * 100_000
    r = client.post("/api/v1/leads", data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and "json" in r.get_json()["errors"]
    assert counts(app)["lead_submissions"] == 0


@pytest.mark.parametrize(
    "lead, field",
    [
        ({**ANNA, "first_name": "An\u0000na"}, "first_name"),  # PostgreSQL: jsonb and text refuse NUL
        ({**ANNA, "note": "\ud800"}, "note"),  # a lone surrogate cannot be encoded
        ({**ANNA, "created_at": "0001-01-01T00:00:00+14:00"}, "created_at"),  # year 0 in UTC: OverflowError
    ],
)
def test_text_the_database_cannot_hold_is_a_field_error(app, client, lead, field):
    r = client.post(
        "/api/v1/leads", data=json.dumps(lead).encode(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()
    r = client.post("/api/v1/leads", json={"leads": [ANNA, lead]}, headers=AUTH)
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"1"}
    assert counts(app)["lead_submissions"] == 0


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_a_400_naming_the_field(app, client, number):
    # One strict JSON reader (crm.requests.loads_strict) for the API and the lead webhooks.
    before = counts(app)
    one = json.dumps(ANNA)[:-1] + f', "owner_id": {number}}}'
    r = client.post("/api/v1/leads", data=one, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400, r.get_json()
    assert list(r.get_json()["errors"]) == ["owner_id"]
    batch = '{"leads": [' + json.dumps(ANNA) + ', {"email": "ben@firma.de", "first_name": ' + number + "}]}"
    r = client.post("/api/v1/leads", data=batch, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and list(r.get_json()["errors"]) == ["leads.1.first_name"]
    assert counts(app) == before
