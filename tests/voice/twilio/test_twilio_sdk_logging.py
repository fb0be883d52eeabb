"""The twilio SDK logs each request at INFO (logger `twilio.http_client`): the URL with its query (a List
filter's phone number), the headers. The provider sets that logger to WARNING where it builds the client, so
with the root logger at INFO (and at DEBUG) no request detail, credential or number reaches the logs."""

from __future__ import annotations

import base64
import logging

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from providers.twilio_realtime import SDK_HTTP_LOGGER
from sandbox.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.voice.twilio.conftest import in_db, number, seed_campaign, seed_lead

BASIC = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


def _secrets_in(records: list[logging.LogRecord]) -> list[str]:
    text = "\n".join(r.getMessage() for r in records)
    return [s for s in ("Authorization", "authorization", "Basic ", BASIC, AUTH_TOKEN) if s in text]


@pytest.mark.parametrize("backend", ["sqlite"])  # nothing here depends on the database
@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
def test_no_request_headers_or_credentials_in_the_logs(tw, caplog, level):
    caplog.set_level(level)  # the root logger, as a deployment sets it
    seed_campaign(tw.app)
    phone = number(1)
    placed, _key = tw.place(seed_lead(tw.app, phone))
    tw.wait_ended(placed.call_id)
    provider = tw.provider
    in_db(tw.app, lambda: provider.get_call(placed.call_id))
    assert [c.sid for c in provider.client.calls.list(to=phone)] == [placed.call_id]  # a filter by number
    assert logging.getLogger(SDK_HTTP_LOGGER).getEffectiveLevel() == logging.WARNING
    sdk = [r for r in caplog.records if r.name == SDK_HTTP_LOGGER]
    assert sdk == [], [r.getMessage() for r in sdk]
    assert _secrets_in(caplog.records) == []
    assert not any(phone in r.getMessage() for r in caplog.records if r.name.startswith("twilio"))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_sdks_own_default_would_log_the_request(tw, caplog):
    """What the setting prevents: the SDK's client, its logger at INFO, logs the headers and the number."""
    sdk_logger = logging.getLogger(SDK_HTTP_LOGGER)
    before = sdk_logger.level
    sdk_logger.setLevel(logging.INFO)
    try:
        caplog.set_level(logging.INFO)
        client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(max_retries=0))
        client.api.base_url = f"{tw.box.url}/twilio_realtime"
        phone = number(1)
        client.calls.list(to=phone)
        said = "\n".join(r.getMessage() for r in caplog.records if r.name == SDK_HTTP_LOGGER)
        assert "Headers:" in said and phone in said
    finally:
        sdk_logger.setLevel(before)
