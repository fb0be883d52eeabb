"""SendGrid Marketing Contacts, for erasure: find the person's contact by email, delete it by id.

SendGrid documents (Marketing Campaigns API v3): ``POST /v3/marketing/contacts/search/emails`` with
``{"emails": [...]}`` answers 200 with ``result[email].contact.id`` for the known addresses and 404 when none
is known; ``DELETE /v3/marketing/contacts?ids=<comma-separated>`` answers 202 with a ``job_id`` and deletes
asynchronously. Deleting a contact leaves SendGrid's suppression lists (unsubscribes, bounces) alone, which
is what we want: the address stays blocked there too. SendGrid's email activity (recipient, subject, events)
has no deletion endpoint; it expires under SendGrid's own retention, and the request record says so."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from providers.base import ProviderRejected, ProviderUnavailable

TIMEOUT = httpx.Timeout(20.0, connect=5.0)


@dataclass(frozen=True)
class ContactsClient:
    api_key: str
    host: str  # https://api.sendgrid.com, or <sandbox>/sendgrid

    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        try:
            with httpx.Client(timeout=TIMEOUT) as client:
                answer = client.request(method, f"{self.host.rstrip('/')}{path}", headers=headers, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as e:
            raise ProviderUnavailable(f"sendgrid {path}: {type(e).__name__}") from None
        if answer.status_code == 429 or answer.status_code >= 500:
            raise ProviderUnavailable(f"sendgrid {path}: HTTP {answer.status_code}", status=answer.status_code)
        return answer

    def find_ids(self, emails: list[str]) -> list[str]:
        """The contact ids of the addresses SendGrid knows (empty when it knows none)."""
        answer = self._request("POST", "/v3/marketing/contacts/search/emails", json={"emails": emails})
        if answer.status_code == 404:
            return []
        if answer.status_code != 200:
            raise ProviderRejected(f"sendgrid contact search: HTTP {answer.status_code}")
        result = answer.json().get("result") or {}
        return sorted({str(v["contact"]["id"]) for v in result.values() if isinstance(v, dict) and v.get("contact")})

    def delete(self, ids: list[str]) -> str:
        """Start the deletion of the contacts; returns SendGrid's job id."""
        answer = self._request("DELETE", "/v3/marketing/contacts", params={"ids": ",".join(ids)})
        if answer.status_code != 202:
            raise ProviderRejected(f"sendgrid contact deletion: HTTP {answer.status_code}")
        return str(answer.json().get("job_id", ""))
