"""/api/v1/deals on SQLite and PostgreSQL: create (once per appointment), read, edit, move, close, reopen and
the pipeline; bad input a 4xx naming each bad field with nothing written; another company's deal a 404."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import AuditEntry, Deal
from crm.tenancy.context import company_scope
from tests.conftest import API_KEY
from tests.deals.conftest import World, api_key, make_world

AUTH = {"Authorization": f"Bearer {API_KEY}"}  # the installation's key: company 1, every scope


def _written(app, company_id: int = 1) -> tuple[int, int]:
    with app.app_context(), company_scope(company_id):
        deals = db.session.scalar(sa.select(sa.func.count()).select_from(Deal))
        audited = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
        return deals, audited


def _stages(client) -> list[int]:
    return [s["stage_id"] for s in client.get("/api/v1/deals/pipeline", headers=AUTH).get_json()["stages"]]


def test_a_client_creates_moves_closes_and_reopens_a_deal(app, client, world: World):
    body = {"lead_id": world.lead_id, "appointment_id": world.appointment_id, "value_cents": 120_000}
    r = client.post("/api/v1/deals", json=body, headers=AUTH)
    assert r.status_code == 201, r.get_json()
    deal = r.get_json()
    assert deal["status"] == "open" and deal["stage"] == "Erstgespräch" and deal["owner_id"] == world.rep_id
    assert r.headers["Location"].endswith(f"/api/v1/deals/{deal['id']}")
    again = client.post("/api/v1/deals", json={**body, "value_cents": 5}, headers=AUTH)
    assert again.status_code == 200 and again.get_json()["id"] == deal["id"]
    url = f"/api/v1/deals/{deal['id']}"
    patched = client.patch(url, json={"title": "Dach 40 kWp", "expected_close_on": "2027-02-01"}, headers=AUTH)
    assert patched.status_code == 200 and patched.get_json()["title"] == "Dach 40 kWp"
    assert patched.get_json()["value_cents"] == 120_000
    moved = client.post(f"{url}/move", json={"stage_id": _stages(client)[2]}, headers=AUTH)
    assert moved.status_code == 200 and moved.get_json()["stage"] == "Verhandlung"
    won = client.post(f"{url}/close", json={"outcome": "won"}, headers=AUTH)
    assert won.status_code == 200 and won.get_json()["status"] == "won" and won.get_json()["closed_at"]
    reopened = client.post(f"{url}/reopen", headers=AUTH)
    assert reopened.status_code == 200 and reopened.get_json()["status"] == "open"
    listed = client.get("/api/v1/deals?status=open&limit=1", headers=AUTH).get_json()
    assert [d["id"] for d in listed["items"]] == [deal["id"]] and listed["next_after"] is None
    pipeline = client.get(f"/api/v1/deals/pipeline?owner_id={world.rep_id}", headers=AUTH).get_json()
    assert pipeline["open_count"] == 1 and pipeline["open_total"] == [{"currency": "EUR", "cents": 120_000}]
    assert pipeline["stages"][2]["weighted"] == [{"currency": "EUR", "cents": 90_000}]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"lead_id": "7", "value_cents": -5, "currency": "EURO", "colour": "red"},
            {"lead_id", "value_cents", "currency", "colour"},
        ),
        ({"value_cents": 1}, {"lead_id"}),
        ({"lead_id": 999}, {"lead_id"}),
        ({"lead_id": 1, "currency": "XYZ"}, {"currency"}),
        ({"lead_id": 1, "stage_id": 999}, {"stage_id"}),
        ({"lead_id": 1, "owner_id": 999, "expected_close_on": "soon"}, {"expected_close_on"}),
        ({"lead_id": 1, "owner_id": 999}, {"owner_id"}),
        ({"lead_id": 1, "appointment_id": 999}, {"appointment_id"}),
    ],
)
def test_a_bad_create_names_each_bad_field_and_writes_nothing(app, client, world: World, body, fields):
    written = _written(app)
    r = client.post("/api/v1/deals", json=body, headers=AUTH)
    assert r.status_code == 422, r.get_json()
    assert set(r.get_json()["errors"]) == fields
    assert _written(app) == written


def test_bad_changes_are_refused_and_change_nothing(app, client, world: World):
    deal = client.post("/api/v1/deals", json={"lead_id": world.lead_id}, headers=AUTH).get_json()
    url = f"/api/v1/deals/{deal['id']}"
    written = _written(app)
    refused = [
        (client.post(f"{url}/close", json={"outcome": "lost"}, headers=AUTH), {"reason_id"}),
        (client.post(f"{url}/close", json={"outcome": "maybe", "note": 5}, headers=AUTH), {"outcome", "note"}),
        (client.post(f"{url}/move", json={"stage_id": 999}, headers=AUTH), {"stage_id"}),
        (client.post(f"{url}/move", json={}, headers=AUTH), {"stage_id"}),
        (client.patch(url, json={"value_cents": 1.5, "owner_id": "me"}, headers=AUTH), {"value_cents", "owner_id"}),
        (client.patch(url, json={"status": "won"}, headers=AUTH), {"status"}),
        (client.post(f"{url}/reopen", json={"force": True}, headers=AUTH), {"force"}),
        (client.get("/api/v1/deals?status=done&limit=0", headers=AUTH), {"status", "limit"}),
        (client.get("/api/v1/deals/pipeline?owner=3", headers=AUTH), {"owner"}),
    ]
    for response, fields in refused:
        assert response.status_code == 422, response.get_json()
        assert set(response.get_json()["errors"]) == fields
    unreadable = client.post(f"{url}/move", data="{", content_type="application/json", headers=AUTH)
    assert unreadable.status_code == 400
    assert client.post(f"{url}/move", json=[1], headers=AUTH).status_code == 422
    assert client.get("/api/v1/deals/999", headers=AUTH).status_code == 404
    assert client.get("/api/v1/deals/99999999999", headers=AUTH).status_code == 404
    assert _written(app) == written
    assert client.get(url, headers=AUTH).get_json()["status"] == "open"


def test_keys_need_their_scopes(app, client, world: World):
    read_only = api_key(app, 1, ["read"])
    assert client.get("/api/v1/deals").status_code == 401
    assert client.get("/api/v1/deals", headers=read_only).status_code == 200
    assert client.post("/api/v1/deals", json={"lead_id": world.lead_id}, headers=read_only).status_code == 403
    assert _written(app)[0] == 0


@pytest.mark.tenancy
def test_another_companys_deal_does_not_exist_for_a_key(app, client):
    from tests.tenancy.companies import second_company

    b = second_company(app)
    world_a, world_b = make_world(app, 1, "a"), make_world(app, b, "b")
    key_b = api_key(app, b, ["read", "manage"])
    deal_a = client.post("/api/v1/deals", json={"lead_id": world_a.lead_id}, headers=AUTH).get_json()
    stage_a = deal_a["stage_id"]
    url = f"/api/v1/deals/{deal_a['id']}"
    assert client.get(url, headers=key_b).status_code == 404
    assert client.patch(url, json={"title": "mine"}, headers=key_b).status_code == 404
    assert client.post(f"{url}/close", json={"outcome": "won"}, headers=key_b).status_code == 404
    assert client.get("/api/v1/deals", headers=key_b).get_json()["items"] == []
    # B cannot point at A's lead, appointment or stage either.
    for body, field in (
        ({"lead_id": world_a.lead_id}, "lead_id"),
        ({"lead_id": world_b.lead_id, "appointment_id": world_a.appointment_id}, "appointment_id"),
        ({"lead_id": world_b.lead_id, "stage_id": stage_a}, "stage_id"),
    ):
        r = client.post("/api/v1/deals", json=body, headers=key_b)
        assert r.status_code == 422 and set(r.get_json()["errors"]) == {field}
    assert client.get("/api/v1/deals/pipeline", headers=key_b).get_json()["open_count"] == 0
    assert client.get(url, headers=AUTH).get_json()["title"] == deal_a["title"]
    assert _written(app, b)[0] == 0
