"""The sandbox's SendGrid Marketing Contacts, the part an erasure uses (docs/privacy.md):

* ``PUT /v3/marketing/contacts`` ``{"contacts": [{"email": ..., "first_name": ...}]}`` → 202 ``{"job_id"}``
  (add or update by email; the vendor processes it asynchronously, the sandbox at once);
* ``POST /v3/marketing/contacts/search/emails`` ``{"emails": [...]}`` → 200 ``{"result": {email: {"contact":
  {...}}}}`` for the addresses it knows, 404 when it knows none of them;
* ``DELETE /v3/marketing/contacts?ids=a,b`` → 202 ``{"job_id"}``; neither ``ids`` nor
  ``delete_all_contacts=true`` → 400.

Deleting a contact leaves SendGrid's suppression lists as they are (the vendor keeps a global unsubscribe
after the contact goes); the sandbox keeps them in ``suppressions`` as hashes of nothing: only a count."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox

MAX_SEARCH = 100  # the vendor's limit of emails per search


class ContactStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.contacts: dict[str, dict[str, Any]] = {}  # by lower-cased email
        self.deleted_ids: list[str] = []
        self.delete_requests = 0

    def upsert(self, contact: dict[str, Any]) -> None:
        email = str(contact["email"]).strip().lower()
        with self._lock:
            found = self.contacts.setdefault(email, {"id": str(uuid.uuid4()), "email": email})
            found.update({k: v for k, v in contact.items() if k != "id"}, email=email)

    def by_email(self, emails: list[str]) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {e: dict(self.contacts[e.lower()]) for e in emails if e.lower() in self.contacts}

    def delete(self, ids: set[str]) -> None:
        with self._lock:
            self.delete_requests += 1
            for email in [e for e, c in self.contacts.items() if c["id"] in ids]:
                self.deleted_ids.append(self.contacts.pop(email)["id"])


def register(app: Flask, sandbox: Sandbox) -> None:
    """Under SendGrid's prefix, beside its mail send (sandbox.sendgrid)."""
    store = ContactStore()
    sandbox.sendgrid_contacts = store  # tests read it
    bp = Blueprint("sandbox_sendgrid_contacts", __name__)

    def refused() -> ResponseReturnValue | None:
        if request.headers.get("Authorization", "") != f"Bearer {sandbox.config.keys['sendgrid']}":
            return jsonify({"errors": [{"field": None, "message": "authorization required"}]}), 401
        return None

    def error(status: int, field: str | None, message: str) -> ResponseReturnValue:
        return jsonify({"errors": [{"field": field, "message": message}]}), status

    @bp.put("/v3/marketing/contacts")
    def upsert() -> ResponseReturnValue:
        denied = refused()
        if denied:
            return denied
        body = request.get_json(silent=True) or {}
        contacts = body.get("contacts")
        if (
            not isinstance(contacts, list)
            or not contacts
            or not all(isinstance(c, dict) and c.get("email") for c in contacts)
        ):
            return error(400, "contacts", "contacts must be a non-empty list of objects with an email")
        for contact in contacts:
            store.upsert(contact)
        return jsonify({"job_id": str(uuid.uuid4())}), 202

    @bp.post("/v3/marketing/contacts/search/emails")
    def search() -> ResponseReturnValue:
        denied = refused()
        if denied:
            return denied
        emails = (request.get_json(silent=True) or {}).get("emails")
        if not isinstance(emails, list) or not emails or len(emails) > MAX_SEARCH:
            return error(400, "emails", f"emails must be a list of 1 to {MAX_SEARCH} addresses")
        found = store.by_email([str(e) for e in emails])
        if not found:
            return error(404, None, "No results found")
        return jsonify({"result": {email: {"contact": contact} for email, contact in found.items()}}), 200

    @bp.delete("/v3/marketing/contacts")
    def delete() -> ResponseReturnValue:
        denied = refused()
        if denied:
            return denied
        ids = request.args.get("ids", "")
        if request.args.get("delete_all_contacts") == "true":
            store.delete({c["id"] for c in store.contacts.values()})
        elif ids.strip():
            store.delete({i.strip() for i in ids.split(",") if i.strip()})
        else:
            return error(400, "ids", "either ids or delete_all_contacts must be set")
        return jsonify({"job_id": str(uuid.uuid4())}), 202

    app.register_blueprint(bp, url_prefix="/sendgrid")
