"""Vapi's provisioning endpoints in the sandbox, as vapi-server-sdk calls them (docs/onboarding.md §2).

POST/GET /assistant, DELETE /assistant/{id} (an assistant with `server.url` for its server messages and a
model whose `tools` call that server), POST/GET /phone-number, DELETE /phone-number/{id} (a free Vapi number,
`provider: "vapi"`, bound to an assistant by `assistantId`). Bodies in camelCase as on the wire."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox
from sandbox.provisioned import ProvisionedStore, store

PROVIDER = "vapi"
ORG_ID = "org_sandbox"


def _error(status: int, message: str) -> tuple[Any, int]:
    # Vapi answers NestJS-style errors.
    return jsonify(message=[message], error="Bad Request" if status == 400 else "Error", statusCode=status), status


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Provisioning:
    def __init__(self, sandbox: Sandbox, objects: ProvisionedStore) -> None:
        self.sandbox = sandbox
        self.objects = objects

    def guard(self) -> tuple[Any, int] | None:
        expected = f"Bearer {self.sandbox.config.keys[PROVIDER]}"
        if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected.encode()):
            return _error(401, "Invalid Key. Hot tip, you may be using the private key instead of the public key")
        fault = self.sandbox.state.take_fault(PROVIDER)
        return _error(fault.status, "injected fault") if fault is not None else None

    def _stamp(self, body: dict[str, Any], prefix: str) -> dict[str, Any]:
        now = _now()
        object_id = f"{prefix}-{self.objects.next_id():08d}-0000-4000-8000-000000000000"
        return {**body, "id": object_id, "orgId": ORG_ID, "createdAt": now, "updatedAt": now}

    def create_assistant(self) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        server = body.get("server")
        if server is not None and not (isinstance(server, dict) and str(server.get("url", "")).startswith("http")):
            return _error(400, "server.url must be a URL")
        assistant = self._stamp(body, "a0000000")
        self.objects.add(PROVIDER, "assistant", assistant["id"], assistant)
        return jsonify(assistant), 201

    def list_assistants(self) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        return jsonify(self.objects.live(PROVIDER, "assistant"))

    def delete_assistant(self, object_id: str) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        gone = self.objects.remove(PROVIDER, "assistant", object_id)
        return jsonify(gone) if gone is not None else _error(404, "Couldn't Find Assistant")

    def create_phone_number(self) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        if body.get("provider") != "vapi":
            return _error(400, "provider must be one of vapi (the sandbox sells only free Vapi numbers)")
        assistant_id = body.get("assistantId")
        if assistant_id is not None and self.objects.get(PROVIDER, "assistant", str(assistant_id)) is None:
            return _error(400, "assistantId not found")
        area = str(body.get("numberDesiredAreaCode") or "415")
        if not (area.isdigit() and len(area) == 3):
            return _error(400, "numberDesiredAreaCode must be three digits")
        number = self._stamp(body, "b0000000")
        number.update(status="active", number=f"+1{area}556{self.objects.next_id() % 10000:04d}")
        self.objects.add(PROVIDER, "phone_number", number["id"], number)
        return jsonify(number), 201

    def list_phone_numbers(self) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        return jsonify(self.objects.live(PROVIDER, "phone_number"))

    def get_phone_number(self, object_id: str) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        found = self.objects.get(PROVIDER, "phone_number", object_id)
        return jsonify(found) if found is not None else _error(404, "Couldn't Find Phone Number")

    def delete_phone_number(self, object_id: str) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        gone = self.objects.remove(PROVIDER, "phone_number", object_id)
        return jsonify(gone) if gone is not None else _error(404, "Couldn't Find Phone Number")


def register(app: Flask, sandbox: Sandbox) -> None:
    api = _Provisioning(sandbox, store(app))
    bp = Blueprint("sandbox_vapi_provisioning", __name__)
    bp.add_url_rule("/assistant", view_func=api.create_assistant, methods=["POST"])
    bp.add_url_rule("/assistant", view_func=api.list_assistants, methods=["GET"])
    bp.add_url_rule("/assistant/<object_id>", view_func=api.delete_assistant, methods=["DELETE"])
    bp.add_url_rule("/phone-number", view_func=api.create_phone_number, methods=["POST"])
    bp.add_url_rule("/phone-number", view_func=api.list_phone_numbers, methods=["GET"])
    bp.add_url_rule("/phone-number/<object_id>", view_func=api.get_phone_number, methods=["GET"])
    bp.add_url_rule("/phone-number/<object_id>", view_func=api.delete_phone_number, methods=["DELETE"])
    app.register_blueprint(bp, url_prefix="/vapi")
