"""What the voice providers' provisioning endpoints created in the sandbox (agents, assistants, numbers).

One store per sandbox app, shared by sandbox.retell_provisioning and sandbox.vapi_provisioning, so a test can
ask over HTTP whether anything a wizard created is still alive after an undo (GET /sandbox/provisioned)."""

from __future__ import annotations

import itertools
import threading
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

EXTENSION = "sandbox_provisioned"


class ProvisionedStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (provider, kind, id) → the object
        self.created: dict[tuple[str, str], int] = {}  # (provider, kind) → how many were ever created
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    def add(self, provider: str, kind: str, object_id: str, obj: dict[str, Any]) -> None:
        with self.lock:
            self.objects[(provider, kind, object_id)] = obj
            self.created[(provider, kind)] = self.created.get((provider, kind), 0) + 1

    def get(self, provider: str, kind: str, object_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects.get((provider, kind, object_id))

    def remove(self, provider: str, kind: str, object_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects.pop((provider, kind, object_id), None)

    def live(self, provider: str, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [o for (p, k, _), o in self.objects.items() if p == provider and k == kind]


def store(app: Flask) -> ProvisionedStore:
    existing = app.extensions.get(EXTENSION)
    if existing is None:
        existing = app.extensions[EXTENSION] = ProvisionedStore()
    return existing


def register(app: Flask) -> None:
    objects = store(app)

    @app.get("/sandbox/provisioned")
    def provisioned() -> ResponseReturnValue:
        with objects.lock:
            live = [{"provider": p, "kind": k, "id": i} for (p, k, i) in objects.objects]
            created = [{"provider": p, "kind": k, "count": n} for (p, k), n in objects.created.items()]
        return jsonify(live=live, created=created)
