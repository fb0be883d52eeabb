"""The spec documents what the API answers (found by bench/schemathesis_run.py --checks
response_schema_conformance): the 2xx of the chain routes and of the CSV import were not in
/api/openapi.json, so a client generated from it read them against the error schema. Each answer here is
a real one, checked with schemathesis's response_schema_conformance and status_code_conformance."""

from __future__ import annotations

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from bench.schemathesis_run import AUTH, seed_leads
from tests.conftest import _wipe

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def _schema(app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


def _check(case, expected_status: int) -> None:
    response = case.call(headers=AUTH)
    assert response.status_code == expected_status, response.text
    case.validate_response(response, checks=CHECKS, headers=AUTH)  # raises on a mismatch


def test_chain_status_and_do_not_contact_answers_are_documented(app):
    _wipe(app)
    seed_leads(app)  # lead 1 has no chain: the status is answered without Temporal
    schema = _schema(app)
    _check(schema["/api/v1/leads/{lead_id}/chain"]["GET"].Case(path_parameters={"lead_id": 1}), 200)
    _check(schema["/api/v1/leads/{lead_id}/do-not-contact"]["POST"].Case(path_parameters={"lead_id": 1}), 200)


def test_csv_import_report_is_documented(app):
    schema = _schema(app)
    body = "first_name,last_name,email\nAnna,Schmidt,anna@firma.de\nBad,Row,not-an-email\n"
    case = schema["/api/v1/leads/import"]["POST"].Case(body=body, media_type="text/csv")
    _check(case, 200)


def test_the_chain_action_documents_its_202(client):
    # Its 202 needs a running chain (Temporal); the documented shape is the one chain_action returns.
    doc = client.get("/api/openapi.json").get_json()["paths"]["/api/v1/leads/{lead_id}/chain/{action}"]["post"]
    props = doc["responses"]["202"]["content"]["application/json"]["schema"]["properties"]
    assert set(props) == {"lead_id", "chain_id", "requested"}
