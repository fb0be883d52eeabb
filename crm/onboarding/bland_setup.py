"""Bland: a number bought at Bland whose inbound agent is configured to call this CRM, recorded as the
company's `phone_numbers` row of provider "bland" (docs/onboarding.md §2). Plain httpx, as providers/bland.py
(Bland has no official SDK); auth is `authorization: <raw key>`.

Two steps. "phone_number": `POST /v1/inbound/purchase {"area_code", "country_code": "US"}` (Bland answers
`{"phone_number": "+1…"}`), then at once a tag, `POST /v1/inbound/{number}` with a holding prompt and
`metadata.leadchain_reference` = the step's reference. "inbound_config": the `phone_numbers` row (the wizard's
language and hours) and the number's configuration from crm.inbound.bland_config.configure (prompt, tools and
dynamic_data calling /webhooks/bland/inbound…, the post-call webhook). Bland's agent runs at Bland on that
configuration: there is no agent object to create.

At most one purchase. Bland's purchase takes no name and no idempotency key, so a retry of a row left
"creating" reads `GET /v1/inbound` and adopts, before buying anything:

1. the number whose metadata carries our reference (the tag went through; its answer or our commit did not);
2. else the one number that nobody has pointed anywhere yet (no metadata, no webhook, no pathway), that the
   company's phone_numbers do not hold, created at Bland since the provisioned_objects row was first written
   (less five minutes for the clocks): a purchase whose answer was lost before the tag.

What it cannot tell apart: in case 2, a number bought by hand in the same Bland account in that window and
not configured yet looks like ours. Two such candidates are refused (ProvisioningFailed naming them), never
guessed at, and nothing is bought. A number of another company in a shared account (the keyless sandbox) is
tagged or configured within moments of its purchase, so it is a candidate only in that moment. The area code
is not compared: a retry with another area code still finds the first purchase.

Release: Bland documents none for a number it sold (its `DELETE /v1/inbound/{number}` removes numbers uploaded
from one's own Twilio account, with that account's `encrypted_key`). `delete` refuses while Bland still lists
the number: it must be released in Bland's dashboard, then undone again; a number Bland no longer has (404)
counts as deleted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy.exc import IntegrityError

from crm.extensions import db
from crm.inbound import bland_config
from crm.models.onboarding import ProvisionedObject
from crm.models.phone_numbers import PhoneNumber
from crm.onboarding.vendor import AgentTargets, ProvisioningFailed, TestCallView
from providers import bland
from providers.parsing import FieldError, Fields

PROVIDER = "bland"
TAG = "leadchain_reference"
CLOCK_MARGIN = timedelta(minutes=5)
# Said by the number between its purchase and its configuration (moments; only if someone calls then).
HOLDING_PROMPT = "This number is being set up. Politely ask the caller to call again in a few minutes."
TEST_CALL_TASK = (
    "You are the new phone assistant of {company}, an AI. This is a test call to the person who set you up: "
    "greet them, say that the new number works, ask whether they can hear you well, thank them and say goodbye."
)
LANGUAGES = {"de": "de", "en": "en-US", "fr": "fr"}  # as providers/bland.py sends them
RELEASE = "Bland has no API to release a number it sold: release {number} in Bland's dashboard, then undo again"


class BlandSetup:
    provider: str = PROVIDER
    steps: tuple[str, ...] = ("phone_number", "inbound_config")

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        targets: AgentTargets,
        company_id: int,
        webhook_secret: str | None,
        company_name: str = "",
        business_hours: dict[str, Any] | None = None,
        timeout_s: float = 20.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        # No retries: a retried purchase could buy twice; our own retry looks the number up first.
        self.http = httpx.Client(
            base_url=self.base_url, headers={"authorization": api_key}, timeout=httpx.Timeout(timeout_s, connect=5.0)
        )
        self.targets = targets
        self.company_id = company_id
        self.webhook_secret = webhook_secret
        self.company_name = company_name
        self.business_hours = business_hours

    # ------------------------------------------------------------------------------------------ create

    def create(self, step: str, reference: str, created: Mapping[str, str]) -> str:
        if step == "phone_number":
            if not self.webhook_secret:  # refused before buying: a number we could not point at us
                raise ProvisioningFailed(step, "the company has no Bland webhook secret")
            e164 = self._purchase()
            self._tag(e164, reference)
            return e164
        return self._configure(created["phone_number"])

    def _purchase(self) -> str:
        body = {"area_code": str(self.targets.area_code), "country_code": "US"}
        answer = self._call("phone_number", "POST", "/v1/inbound/purchase", json=body)
        e164 = answer.get("phone_number") if isinstance(answer, dict) else None
        if not isinstance(e164, str) or not e164.startswith("+"):
            raise ProvisioningFailed("phone_number", "Bland answered without the number")
        return e164

    def _tag(self, e164: str, reference: str) -> None:
        # Not fatal: the number is ours and known now; a retry after a lost answer falls back to rule 2.
        try:
            self.http.post(
                f"/v1/inbound/{quote(e164, safe='')}", json={"prompt": HOLDING_PROMPT, "metadata": {TAG: reference}}
            ).raise_for_status()
        except httpx.HTTPError:
            pass

    def _configure(self, e164: str) -> str:
        step = "inbound_config"
        if not self.webhook_secret:
            raise ProvisioningFailed(step, "the company has no Bland webhook secret")
        number = self._number_row(e164)
        if number is None:
            number = PhoneNumber(
                company_id=self.company_id,
                e164=e164,
                provider=PROVIDER,
                language=self.targets.language,
                business_hours=self.business_hours,
            )
            db.session.add(number)
            try:
                db.session.flush()  # its id goes into the configuration's metadata
            except IntegrityError:
                db.session.rollback()
                raise ProvisioningFailed(step, f"{e164} is already another company's number") from None
        elif number.provider != PROVIDER:
            raise ProvisioningFailed(step, f"{e164} is recorded for {number.provider}")
        try:
            bland_config.configure(
                number,
                api_key=self.api_key,
                base_url=self.targets.webhook_base,
                secret=self.webhook_secret,
                bland_url=self.base_url,
                client=self.http,
            )
        except httpx.HTTPError as exc:
            raise ProvisioningFailed(step, _reason(exc)) from exc
        return e164

    # -------------------------------------------------------------------------------------------- find

    def find(self, step: str, reference: str) -> str | None:
        if step == "inbound_config":
            return self._find_configured()
        listed = self._call(step, "GET", "/v1/inbound")
        listing = listed.get("inbound_numbers") if isinstance(listed, dict) else None
        numbers = [n for n in listing or [] if isinstance(n, dict)]
        tagged = [n["phone_number"] for n in numbers if _metadata(n).get(TAG) == reference]
        if tagged:
            return str(tagged[0])
        since = self._first_attempt()
        if since is None:
            return None
        known = set(db.session.scalars(db.select(PhoneNumber.e164)))
        candidates = [
            str(n["phone_number"]) for n in numbers if _untouched(n, since) and n["phone_number"] not in known
        ]
        if len(candidates) > 1:
            found = ", ".join(sorted(candidates))
            raise ProvisioningFailed(step, f"several unconfigured Bland numbers were bought meanwhile ({found})")
        return candidates[0] if candidates else None

    def _find_configured(self) -> str | None:
        """The number, when Bland holds our configuration for the company's row of it (else: configure again,
        which is free and replaces whatever Bland holds)."""
        bought = self._step_row("phone_number")
        e164 = bought.external_id if bought is not None else None
        number = self._number_row(e164) if e164 else None
        if e164 is None or number is None:
            return None
        record = self._record("inbound_config", e164)
        ours = _metadata(record or {}).get("inbound_number") == str(number.id)
        webhook = f"{self.targets.webhook_base.rstrip('/')}/webhooks/bland/inbound/call"
        return e164 if ours and (record or {}).get("webhook") == webhook else None

    def _first_attempt(self) -> datetime | None:
        row = self._step_row("phone_number")
        return row.created_at if row is not None else None

    def _step_row(self, step: str) -> ProvisionedObject | None:
        return db.session.execute(
            db.select(ProvisionedObject).filter_by(company_id=self.company_id, provider=PROVIDER, step=step)
        ).scalar_one_or_none()

    def _number_row(self, e164: str) -> PhoneNumber | None:
        return db.session.execute(db.select(PhoneNumber).filter_by(e164=e164)).scalar_one_or_none()

    # ------------------------------------------------------------------------------------------ delete

    def delete(self, step: str, external_id: str) -> None:
        if self._record(step, external_id) is None:
            return  # Bland no longer has the number (released in its dashboard): deleted
        raise ProvisioningFailed(step, RELEASE.format(number=external_id))

    def number_of(self, created: Mapping[str, str]) -> str:
        return created["phone_number"]  # Bland names a number by its E.164 form

    # --------------------------------------------------------------------------------------- test call

    def place_test_call(self, created: Mapping[str, str], to_number: str, key: str) -> str:
        body = {
            "phone_number": to_number,
            "from": created["phone_number"],
            "task": TEST_CALL_TASK.format(company=self.company_name or "the company"),
            "language": LANGUAGES.get(self.targets.language, "de"),
            "max_duration": 3,
            "metadata": {"purpose": "onboarding-test-call", "idempotency_key": key},
        }
        answer = self._call("test_call", "POST", "/v1/calls", json=body)
        call_id = answer.get("call_id") if isinstance(answer, dict) else None
        if not isinstance(call_id, str) or not call_id:
            raise ProvisioningFailed("test_call", "Bland answered without a call id")
        return call_id

    def read_test_call(self, call_id: str) -> TestCallView:
        call = self._call("test_call", "GET", f"/v1/calls/{quote(call_id, safe='')}")
        if not isinstance(call, dict):
            raise ProvisioningFailed("test_call", "Bland answered without the call")
        ended = call.get("completed") is True
        try:  # the provider module's reading of Bland's two duration fields (seconds as text, or minutes)
            seconds = bland.duration_seconds(Fields(call, "call"))
        except FieldError:
            seconds = None
        transcript = str(call.get("concatenated_transcript") or "") if ended else ""
        return TestCallView(ended=ended, transcript=transcript, duration_s=seconds if ended else None)

    # --------------------------------------------------------------------------------------------- http

    def _record(self, step: str, e164: str) -> dict[str, Any] | None:
        """Bland's record of the number (`GET /v1/inbound/{number}`), None when Bland does not have it."""
        try:
            response = self.http.get(f"/v1/inbound/{quote(e164, safe='')}")
        except httpx.HTTPError as exc:
            raise ProvisioningFailed(step, _reason(exc)) from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise ProvisioningFailed(step, f"Bland answered {response.status_code}")
        record = response.json()
        return record if isinstance(record, dict) else None

    def _call(self, step: str, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
            response.raise_for_status()
            return response.json()
        except httpx.HTTPError as exc:
            raise ProvisioningFailed(step, _reason(exc)) from exc
        except ValueError:
            raise ProvisioningFailed(step, "Bland answered without JSON") from None


def _metadata(record: dict[str, Any]) -> dict[str, Any]:
    meta = record.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _untouched(record: dict[str, Any], since: datetime) -> bool:
    """Bought since `since` (less the clocks' margin) and pointed nowhere yet: no tag, configuration or pathway."""
    bought = _when(record.get("created_at"))
    pointed = record.get("metadata") or record.get("webhook") or record.get("pathway_id")
    return (
        isinstance(record.get("phone_number"), str)
        and not pointed
        and bought is not None
        and (bought >= since - CLOCK_MARGIN)
    )


def _when(raw: object) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def _reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        try:
            message = str(exc.response.json().get("message") or "")[:200]
        except (ValueError, AttributeError):
            message = ""
        return f"Bland answered {status}" + (f": {message}" if message else "")
    return "Bland could not be reached"
