"""No 500 from the JSON intake: POST /api/v1/leads and POST /webhooks/leads/<source> with random JSON
shapes (objects, lists, nesting, huge and odd numbers, wrong types, NUL and unicode in strings, unknown
and mass-assignment fields). Every refusal is a JSON 4xx in the one error shape ({"code", "status",
"message", "errors"}) naming the bad fields, and stores nothing; an accepted lead is a 202.

The fixed cases of tests/crm/test_api_leads.py and test_webhook_leads.py (auth, signatures, batches,
idempotency) are not repeated here. Hypothesis runs derandomized with small example counts."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from crm.schemas.lead import LeadInSchema
from tests.conftest import API_KEY, WEBHOOK_SECRETS
from tests.crm.test_webhook_leads import counts
from tests.helpers import signed_headers

AUTH = {"Authorization": f"Bearer {API_KEY}"}
LEAD_FIELDS = sorted(LeadInSchema().fields)
EXTRA_FIELDS = (
    "owner_id",
    "role",
    "consent_status",
    "id",
    "__class__",
    "score",
    "status",
    "do_not_contact",
    "merged_into_id",
    "leads",
    "",
    " ",
    "email ",
    "EMAIL",
)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\udc00",
            "anna\x00@firma.de",
            "anna@firma.de",
            "anna@example.test",
            "+49 30 23125101",
            "0049 30 2312",
            "ja",
            "nein",
            "vielleicht",
            "de",
            "en",
            "DE",
            "2026-01-15T10:00:00Z",
            "31.11.2026",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-12:00",
            "1e309",
            "x" * 5000,
            "🙂",
            "\ud7ff",
            "\U0010ffff",
            "<script>",
            "../../etc/passwd",
        ]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([2**31, 2**63, 2**64, -(2**63) - 1, 10**300]),
    st.floats(allow_nan=True, allow_infinity=True),
    odd_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(LEAD_FIELDS), st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=12,
)
field_names = st.one_of(
    st.sampled_from(LEAD_FIELDS), st.sampled_from(LEAD_FIELDS), st.sampled_from(EXTRA_FIELDS), st.text(max_size=12)
)
lead_objects = st.dictionaries(field_names, st.one_of(odd_text, odd_text, json_values), max_size=8)
# a reachable person plus random fields: gets past "email or phone required" to the other checks
almost_valid = st.builds(lambda extra: {"email": "anna@firma.de", **extra}, lead_objects)
api_bodies = st.one_of(
    lead_objects,
    almost_valid,
    almost_valid,
    st.lists(st.one_of(lead_objects, json_values), max_size=4),
    st.fixed_dictionaries(
        {"leads": st.one_of(st.lists(st.one_of(lead_objects, json_values), max_size=4), json_values)}
    ),
    json_values,
)


def _encode(value) -> bytes:
    # allow_nan: NaN and Infinity are what sloppy clients send (Python's json reads them too)
    return json.dumps(value, allow_nan=True).encode()


def _check_refusal(r, sent_fields: set[str] | None) -> None:
    assert r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:500])
    assert r.is_json, r.get_data(as_text=True)[:300]
    body = r.get_json()
    if r.status_code < 400:
        assert r.status_code == 202 and body["status"] == "accepted"
        return
    assert body["code"] == r.status_code and body["message"], body
    if r.status_code in (400, 422):
        assert isinstance(body.get("errors"), dict) and body["errors"], body
        if sent_fields is not None and r.status_code == 422:
            # one lead: each key is a field that was sent (unknown ones included) or the whole object
            assert set(body["errors"]) <= sent_fields | {"_schema", "json", "leads"}, (body, sent_fields)


def test_api_leads_random_json(app, client):
    @FUZZ
    @given(payload=api_bodies, key=st.one_of(st.none(), st.text(alphabet="abc-_0123456789", max_size=250)))
    def run(payload, key):
        before = counts(app)
        headers = {**AUTH, "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        r = client.post("/api/v1/leads", data=_encode(payload), headers=headers)
        single = isinstance(payload, dict) and "leads" not in payload
        _check_refusal(r, set(payload) if single else None)
        if r.status_code >= 400:
            assert counts(app) == before, (payload, r.get_json())

    run()


def test_webhook_leads_random_json_and_forms(app, client):
    @FUZZ
    @given(
        payload=st.one_of(lead_objects, almost_valid, almost_valid, json_values),
        source=st.sampled_from(["website", "website", "partner", "unknown", "Website", "a" * 64, "x.y"]),
        form=st.booleans(),
    )
    def run(payload, source, form):
        before = counts(app)
        if form and isinstance(payload, dict):
            # a lone surrogate goes out as the (invalid UTF-8) bytes a broken form encoder would send
            body = urlencode(
                {k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()}, errors="surrogatepass"
            ).encode()
            headers = signed_headers(WEBHOOK_SECRETS[1], body, content_type="application/x-www-form-urlencoded")
        else:
            body = _encode(payload)
            headers = signed_headers(WEBHOOK_SECRETS[1], body)
        r = client.post(f"/webhooks/leads/{source}", data=body, headers=headers)
        sent = {*payload, "source"} if isinstance(payload, dict) else None
        _check_refusal(r, sent)
        if r.status_code >= 400:
            assert counts(app) == before, (payload, r.get_json())

    run()


NASTY_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,  # deeper than Python's recursion limit
    b'{"email": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    b'{"email": ' + b"9" * 5_000 + b"}",  # beyond int's 4300-digit limit
    b'{"email": 1e999, "phone": -Infinity, "first_name": NaN}',
    b'{"email": "anna\\u0000@example.test"}',
    b'{"email": "anna@firma.de", "first_name": "a\\u0000b", "note": "\\u0000"}',
    b'{"email": "anna@firma.de", "utm_source": "\\ud800"}',  # a lone surrogate
    b'{"email": "anna@firma.de", "created_at": "0001-01-01T00:00:00+14:00"}',
    b'{"email": "anna@firma.de", "created_at": "9999-12-31T23:59:59-12:00"}',
    b'{"email": "anna@firma.de", "phone_consent": 1e400}',
    b'{"email": "anna@firma.de", "phone_consent": 100000000000000000000000000000}',
    b'{"email": "anna@firma.de", "submit": "\\u0000", "extra": {"deep": ["\\ud83d"]}}',  # unknown fields are stored too
    b'{"email": "anna@firma.de", "a\\u0000": "x"}',
    b'{"leads": [[], {}, null, 1, "x", {"email": {"$ne": null}}]}',
    b'"just a string"',
    b"null",
    b"123",
    b"{}",
    b'{"leads": {}}',
    b'{"": ""}',
]


@pytest.mark.parametrize("body", NASTY_BODIES, ids=range(len(NASTY_BODIES)))
def test_nasty_json_bodies(app, client, body):
    before = counts(app)
    r = client.post("/api/v1/leads", data=body, headers={**AUTH, "Content-Type": "application/json"})
    _check_refusal(r, None)
    w = client.post("/webhooks/leads/website", data=body, headers=signed_headers(WEBHOOK_SECRETS[0], body))
    _check_refusal(w, None)
    if r.status_code >= 400 and w.status_code >= 400:
        assert counts(app) == before
