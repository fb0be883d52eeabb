"""Reading through the API: following a submission (webhook or API) to its lead, the leads list with its
filters and keyset pages, and the 422 that names each bad query parameter. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Lead, LeadStatus, Role, User
from tests.conftest import API_KEY, WEBHOOK_SECRETS
from tests.helpers import in_app, post_signed, process

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_a_webhook_sender_follows_its_lead_from_pending_to_processed(app, client):
    r = post_signed(client, "website", {"first_name": "Jana", "email": "jana@firma.de"}, WEBHOOK_SECRETS[0])
    assert r.status_code == 202
    accepted = r.get_json()
    status_url = accepted["status_url"]
    assert path_of(status_url) == f"/api/v1/submissions/{accepted['submission_id']}"
    # The status needs an API key: the URL alone shows nothing.
    assert client.get(path_of(status_url)).status_code == 401
    pending = client.get(path_of(status_url), headers=AUTH).get_json()
    assert pending["status"] == "pending" and pending["lead_id"] is None and pending["lead_url"] is None
    assert pending["channel"] == "webhook" and pending["source"] == "website"
    result = process(app, r)
    done = client.get(path_of(status_url), headers=AUTH).get_json()
    assert done["status"] == "processed" and done["outcome"] == "created" == result["outcome"]
    assert done["lead_id"] == result["lead_id"] and done["processed_at"]
    lead = client.get(path_of(done["lead_url"]), headers=AUTH).get_json()
    assert lead["id"] == result["lead_id"] and lead["email"] == "jana@firma.de" and lead["source"] == "website"
    assert path_of(lead["url"]) == path_of(done["lead_url"])


def test_an_api_client_gets_a_status_url_per_lead_of_a_batch(app, client):
    r = client.post("/api/v1/leads", json=[{"email": "a@firma.de"}, {"email": "b@firma.de"}], headers=AUTH)
    assert r.status_code == 202
    accepted = r.get_json()["accepted"]
    urls = [path_of(a["status_url"]) for a in accepted]
    assert urls == [f"/api/v1/submissions/{a['submission_id']}" for a in accepted]
    assert [client.get(u, headers=AUTH).get_json()["status"] for u in urls] == ["pending", "pending"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/submissions/999",
        "/api/v1/submissions/2147483648",
        "/api/v1/submissions/99999999999999999999",
        "/api/v1/leads/2147483648",
    ],
)
def test_unknown_and_overflowing_ids_are_404(client, path):
    r = client.get(path, headers=AUTH)
    assert r.status_code == 404 and r.is_json


def _leads(app) -> dict[str, int]:
    """Five leads with known owners, stages, statuses and change times (a minute apart, in this order)."""
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def make():
        rep = User(email="rep@leadchain.example", name="Rep", role=Role.SALES)
        db.session.add(rep)
        db.session.flush()
        spec = [
            ("anna", "website", rep.id, "calling", LeadStatus.QUALIFIED),
            ("ben", "partner", None, "nurturing", LeadStatus.NURTURING),
            ("carla", "website", None, "calling", LeadStatus.NEW),
            ("dirk", "website", rep.id, None, LeadStatus.BOOKED),
            ("eva", "partner", rep.id, "nurturing", LeadStatus.NURTURING),
        ]
        ids = {}
        for name, source, owner, stage, status in spec:
            lead = Lead(
                first_name=name.title(),
                email=f"{name}@firma.de",
                email_key=f"{name}@firma.de",
                source=source,
                owner_id=owner,
                chain_stage=stage,
                status=status,
            )
            db.session.add(lead)
            db.session.flush()
            ids[name] = lead.id
        db.session.commit()
        # updated_at set after the inserts (onupdate would overwrite it in the same flush).
        for i, name in enumerate(spec):
            db.session.execute(
                sa.update(Lead).where(Lead.id == ids[name[0]]).values(updated_at=base + timedelta(minutes=i))
            )
        db.session.commit()
        ids["rep"] = rep.id
        return ids

    return in_app(app, make)


def _names(body: dict, ids: dict[str, int]) -> list[str]:
    by_id = {v: k for k, v in ids.items() if k != "rep"}
    return [by_id[item["id"]] for item in body["items"]]


def test_filters(app, client):
    ids = _leads(app)

    def names(query: str) -> list[str]:
        r = client.get(f"/api/v1/leads?{query}", headers=AUTH)
        assert r.status_code == 200, r.get_json()
        return _names(r.get_json(), ids)

    assert names("") == ["anna", "ben", "carla", "dirk", "eva"]
    assert names("status=nurturing") == ["ben", "eva"]
    assert names("source=partner") == ["ben", "eva"]
    assert names(f"owner_id={ids['rep']}") == ["anna", "dirk", "eva"]
    assert names("owner_id=none") == ["ben", "carla"]
    assert names("stage=calling") == ["anna", "carla"]
    assert names("updated_since=2026-03-02T09:03:00Z") == ["dirk", "eva"]
    assert names("updated_since=2026-03-02T10:02:00%2B01:00") == ["carla", "dirk", "eva"]  # an offset counts
    assert names("source=website&stage=calling&owner_id=none") == ["carla"]
    assert names("status=lost") == []


def test_merged_records_are_not_listed_but_readable(app, client):
    ids = _leads(app)
    in_app(
        app,
        lambda: (
            db.session.execute(
                sa.update(Lead).where(Lead.id == ids["ben"]).values(merged_into_id=ids["eva"], status=LeadStatus.MERGED)
            ),
            db.session.commit(),
        ),
    )
    listed = client.get("/api/v1/leads", headers=AUTH).get_json()
    assert "ben" not in _names(listed, ids)
    ben = client.get(f"/api/v1/leads/{ids['ben']}", headers=AUTH).get_json()
    assert ben["merged_into_id"] == ids["eva"] and ben["status"] == "merged"


def test_pages_walk_every_lead_once_even_when_one_changes_meanwhile(app, client):
    ids = _leads(app)
    seen: list[str] = []
    r = client.get("/api/v1/leads?limit=2&source=website", headers=AUTH)
    first = r.get_json()
    seen += _names(first, ids)
    assert seen == ["anna", "carla"] and first["limit"] == 2 and first["next_cursor"]
    # The next URL keeps the filters.
    assert parse_qs(urlsplit(first["next_url"]).query)["source"] == ["website"]
    # anna changes while the client pages: she moves behind the cursor and comes again; nobody is skipped.
    in_app(
        app,
        lambda: (
            db.session.execute(
                sa.update(Lead).where(Lead.id == ids["anna"]).values(updated_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
            ),
            db.session.commit(),
        ),
    )
    url = path_of(first["next_url"])
    while url:
        page = client.get(url, headers=AUTH).get_json()
        seen += _names(page, ids)
        url = path_of(page["next_url"]) if page["next_url"] else None
        assert (page["next_cursor"] is None) == (url is None)
    assert seen == ["anna", "carla", "dirk", "anna"]


@pytest.mark.parametrize(
    "query, bad",
    [
        ("limit=0", {"limit"}),
        ("limit=201", {"limit"}),
        ("limit=abc", {"limit"}),
        ("status=merged", {"status"}),
        ("status=bogus&source=a%20b", {"status", "source"}),
        ("owner_id=x", {"owner_id"}),
        ("owner_id=2147483648", {"owner_id"}),
        ("owner_id=%C2%B2", {"owner_id"}),
        ("stage=DROP%20TABLE", {"stage"}),
        ("updated_since=yesterday", {"updated_since"}),
        ("updated_since=0001-01-01T00:00:00%2B14:00", {"updated_since"}),
        ("cursor=garbage", {"cursor"}),
        ("cursor=WyI5OTk5LTEyLTMxVDIzOjU5OjU5LTEyOjAwIiwxXQ", {"cursor"}),
        ("sort=name", {"sort"}),
        ("ownerid=1&limit=0", {"ownerid", "limit"}),
    ],
)
def test_bad_query_parameters_are_a_422_naming_each(app, client, query, bad):
    r = client.get(f"/api/v1/leads?{query}", headers=AUTH)
    assert r.status_code == 422, r.get_data(as_text=True)
    body = r.get_json()
    assert body["code"] == 422 and set(body["errors"]) == bad, body


def test_the_list_needs_a_key_before_anything_else(client):
    r = client.get("/api/v1/leads?limit=0")
    assert r.status_code == 401 and "errors" not in r.get_json()


def test_openapi_documents_the_read_side(client):
    spec = client.get("/api/openapi.json").get_json()
    listing = spec["paths"]["/api/v1/leads"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "status",
        "source",
        "owner_id",
        "stage",
        "updated_since",
        "limit",
        "cursor",
    }
    assert {"200", "422"} <= set(listing["responses"])
    assert "get" in spec["paths"]["/api/v1/submissions/{submission_id}"]
    assert "get" in spec["paths"]["/api/v1/leads/{lead_id}"]
    accepted = spec["components"]["schemas"]["Accepted"]["properties"]
    assert {"submission_id", "status_url"} <= set(accepted)
