"""Retell's provisioning endpoints in the sandbox, as retell-sdk 6.2.13 calls them (docs/onboarding.md §2).

create-agent (a custom-LLM response engine: `{"type": "custom-llm", "llm_websocket_url": ...}` plus
`voice_id`, the agent's `webhook_url`), delete-agent, list-agents (v2, a POST), create-phone-number (buys a number in
an area code and binds inbound/outbound agents by weight), delete-phone-number, list-phone-numbers (v2).
Only what the wizard calls; bodies in the documented shapes."""

from __future__ import annotations

import hmac
import time
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox
from sandbox.provisioned import ProvisionedStore, store

PROVIDER = "retell"
WS_SCHEMES = ("ws://", "wss://")


def _error(status: int, message: str) -> tuple[Any, int]:
    return jsonify(status="error", message=message), status


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of a v2 list: `limit` items after the `pagination_key` (the last id of the page before)."""
    given = request.args.get("limit", "50")
    limit = max(1, min(int(given), 1000)) if given.isdigit() else 50
    after = request.args.get("pagination_key")
    ids = [str(i.get("agent_id") or i.get("phone_number")) for i in items]
    start = ids.index(after) + 1 if after in ids else 0
    page = items[start : start + limit]
    more = start + limit < len(items)
    key = ids[start + len(page) - 1] if more and page else None
    return {"items": page, "has_more": more, "pagination_key": key}


class _Provisioning:
    def __init__(self, sandbox: Sandbox, objects: ProvisionedStore) -> None:
        self.sandbox = sandbox
        self.objects = objects

    def guard(self) -> tuple[Any, int] | None:
        expected = f"Bearer {self.sandbox.config.keys[PROVIDER]}"
        if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
            return _error(401, "Invalid API key")
        fault = self.sandbox.state.take_fault(PROVIDER)
        return _error(fault.status, "injected fault") if fault is not None else None

    def create_agent(self) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        engine = body.get("response_engine")
        if not isinstance(engine, dict) or engine.get("type") not in ("custom-llm", "retell-llm", "conversation-flow"):
            return _error(400, "response_engine.type is required")
        url = engine.get("llm_websocket_url")
        if engine["type"] == "custom-llm" and not (isinstance(url, str) and url.startswith(WS_SCHEMES)):
            return _error(400, "response_engine.llm_websocket_url must be a ws:// or wss:// URL")
        if not isinstance(body.get("voice_id"), str) or not body["voice_id"]:
            return _error(400, "voice_id is required")
        agent_id = f"agent_{self.objects.next_id():024x}"
        agent = {
            "agent_id": agent_id,
            "version": 0,
            "is_published": False,
            "last_modification_timestamp": int(time.time() * 1000),
            **{k: v for k, v in body.items() if k != "agent_id"},
        }
        self.objects.add(PROVIDER, "agent", agent_id, agent)
        return jsonify(agent), 201

    def delete_agent(self, agent_id: str) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        if self.objects.remove(PROVIDER, "agent", agent_id) is None:
            return _error(404, "agent not found")
        return "", 204

    def list_agents(self) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        items = [
            {
                "agent_id": a["agent_id"],
                "agent_name": a.get("agent_name") or "",
                "channel": "voice",
                "is_suspended": False,
                "tags": {},
                "user_modified_timestamp": a["last_modification_timestamp"],
            }
            for a in self.objects.live(PROVIDER, "agent")
        ]
        return jsonify(_page(items))

    def create_phone_number(self) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        area = body.get("area_code", 415)
        if not isinstance(area, int) or not 200 <= area <= 999:
            return _error(400, "area_code must be a three-digit number")
        for field in ("inbound_agents", "outbound_agents"):
            for entry in body.get(field) or []:
                agent_id = str(entry.get("agent_id")) if isinstance(entry, dict) else ""
                if self.objects.get(PROVIDER, "agent", agent_id) is None:
                    return _error(400, f"{field}: agent_id not found")
        number = f"+1{area}555{self.objects.next_id() % 10000:04d}"
        phone = {
            "phone_number": number,
            "phone_number_type": "retell-twilio",
            "phone_number_pretty": f"+1 ({area}) 555-{number[-4:]}",
            "area_code": area,
            "nickname": body.get("nickname"),
            "inbound_agents": body.get("inbound_agents"),
            "outbound_agents": body.get("outbound_agents"),
            "inbound_webhook_url": body.get("inbound_webhook_url"),
            "last_modification_timestamp": int(time.time() * 1000),
        }
        self.objects.add(PROVIDER, "phone_number", number, phone)
        return jsonify(phone), 201

    def delete_phone_number(self, phone_number: str) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        if self.objects.remove(PROVIDER, "phone_number", phone_number) is None:
            return _error(404, "phone number not found")
        return "", 204

    def list_phone_numbers(self) -> ResponseReturnValue:
        if (refused := self.guard()) is not None:
            return refused
        return jsonify(_page(self.objects.live(PROVIDER, "phone_number")))


def register(app: Flask, sandbox: Sandbox) -> None:
    api = _Provisioning(sandbox, store(app))
    bp = Blueprint("sandbox_retell_provisioning", __name__)
    bp.add_url_rule("/create-agent", view_func=api.create_agent, methods=["POST"])
    bp.add_url_rule("/delete-agent/<agent_id>", view_func=api.delete_agent, methods=["DELETE"])
    bp.add_url_rule("/v2/list-agents", view_func=api.list_agents, methods=["POST"])  # POST, filters in the body
    bp.add_url_rule("/create-phone-number", view_func=api.create_phone_number, methods=["POST"])
    bp.add_url_rule("/delete-phone-number/<phone_number>", view_func=api.delete_phone_number, methods=["DELETE"])
    bp.add_url_rule("/v2/list-phone-numbers", view_func=api.list_phone_numbers, methods=["GET"])
    app.register_blueprint(bp, url_prefix="/retell")
