"""The web's /metrics (route rules, never raw paths; no login), its request spans, the SendGrid event
counter, and a failing request's logs without personal data. Both database backends (the `app` fixture)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import API_KEY, make_test_secrets
from tests.email.conftest import FakeGateway, Signer
from tests.observability import markers


def scrape(client) -> dict[tuple[str, frozenset], float]:
    r = client.get("/metrics")
    assert r.status_code == 200, r.data[:300]
    assert r.content_type.startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.get_data(as_text=True))
        for s in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_route_rule_and_metrics_need_no_login(client):
    assert client.get("/api/v1/leads/987654", headers={"X-API-Key": API_KEY}).status_code in (404, 200)
    assert client.get("/api/v1/leads/987653").status_code == 401
    assert client.get("/no-such-page-555").status_code == 404
    body = client.get("/metrics").get_data(as_text=True)
    assert "987654" not in body and "987653" not in body and "no-such-page" not in body
    samples = scrape(client)
    rule = "/api/v1/leads/<int:lead_id>"
    assert value(samples, "leadchain_http_requests_total", method="GET", route=rule, status="404") == 1
    assert value(samples, "leadchain_http_requests_total", method="GET", route=rule, status="401") == 1
    assert value(samples, "leadchain_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert value(samples, "leadchain_webhook_signature_failures_total", route=rule) == 1
    assert value(samples, "leadchain_http_request_duration_seconds_count", method="GET", route=rule) == 2
    # A scrape does not count itself.
    assert not any(
        name == "leadchain_http_requests_total" and ("route", "/metrics") in labels for name, labels in samples
    )


def test_forged_lead_webhooks_count_as_signature_failures(client):
    body = json.dumps({"email": "x@example.org"}).encode()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}
    for _ in range(3):
        assert client.post("/webhooks/leads/website", data=body, headers=headers).status_code == 401
    samples = scrape(client)
    assert value(samples, "leadchain_webhook_signature_failures_total", route="/webhooks/leads/<source>") == 3


def test_sendgrid_events_are_counted_by_kind(app, client):
    signer = Signer()
    app.extensions["leadchain.secrets"] = make_test_secrets(
        LEADCHAIN_SECRET_PROVIDERS_SENDGRID_WEBHOOK_PUBLIC_KEY=signer.public_b64
    )
    app.extensions["leadchain.temporal"] = FakeGateway()
    events = [
        {"event": kind, "email": "x@example.org", "timestamp": 1, "sg_message_id": "m.f", "sg_event_id": str(i)}
        for i, kind in enumerate(["delivered", "open", "open", "made-up"])
    ]
    assert signer.post(client, events).status_code == 200
    samples = scrape(client)
    assert value(samples, "leadchain_email_events_total", event="delivered") == 1
    assert value(samples, "leadchain_email_events_total", event="open") == 2
    assert value(samples, "leadchain_email_events_total", event="other") == 1


def test_a_request_gets_a_span_with_its_route_rule_and_ids_only(client, spans):
    client.get(
        "/api/v1/leads/424242",
        headers={"X-API-Key": API_KEY, "traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"},
    )
    [span] = [s for s in spans.get_finished_spans() if s.name.startswith("GET /api/v1/leads/")]
    assert span.attributes["http.route"] == "/api/v1/leads/<int:lead_id>"
    assert span.attributes["leadchain.lead_id"] == 424242
    assert span.context.trace_id == int("ab" * 16, 16)  # continues the caller's trace
    assert API_KEY not in json.dumps(dict(span.attributes))


def test_a_failing_request_logs_no_personal_data(app, crm_server, json_logs):
    leaky = json.dumps({"first_name": markers.NAME, "phone": markers.PHONE, "email": markers.EMAIL})

    @app.post("/webhooks/_test/boom")
    def boom():  # a view with a bug that puts the request's data into its exception
        raise RuntimeError(f"could not store {leaky} for {markers.EMAIL} (call {markers.PHONE}) key={markers.API_KEY}")

    with httpx.Client(base_url=crm_server.url, timeout=10) as http:
        key = {"X-API-Key": markers.API_KEY}
        assert http.post("/webhooks/_test/boom", content=leaky, headers=key).status_code == 500
        query = {"email": markers.EMAIL, "phone": markers.PHONE, "name": markers.NAME}
        assert http.get("/api/v1/leads", params=query, headers=key).status_code == 401
        r = http.post("/webhooks/leads/website", content=leaky, headers={"webhook-signature": "v1,AAAA"})
        assert r.status_code in (400, 401)
    # The dev server writes the traceback after it has sent the 500 (rendering it imports werkzeug's debug
    # module the first time): wait for the record, at most 10 s, before reading the logs.
    deadline = time.monotonic() + 10
    while "could not store" not in json_logs.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    logs = json_logs.getvalue()
    records = [json.loads(line) for line in logs.splitlines()]
    # The failure was logged with its traceback and the access log has the requests: markers had their chance.
    assert any("RuntimeError: could not store" in json.dumps(r) for r in records), logs[-2000:]
    assert any("/api/v1/leads" in r.get("event", "") for r in records), logs[-2000:]
    for marker in markers.ALL:
        assert marker not in logs


@pytest.mark.parametrize("backend", ["postgresql"], indirect=False)
def test_metrics_is_not_a_ui_route(app):
    from tests.ui.route_expectations import ui_endpoints

    assert "metrics" not in ui_endpoints(app)
