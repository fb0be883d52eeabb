"""Tool timing for tests that assert what a call says and books against the real CRM tools.

Production speaks a filler after 0.4 s and falls back (an information e-mail, the call ends) after 3 s
without a tool's answer. On a loaded CI host a real SQLite or PostgreSQL booking can take that long, and a
test of the dialog's words would then see the filler or the fallback instead of the words it is about.
These tests therefore give the tools room; the filler and the fallback themselves are asserted by their
own tests against a deliberately slow backend (test_retell_protocol, test_vapi_protocol)."""

from __future__ import annotations

CONTENT_TIMING: dict[str, float] = {"filler_after_s": 30.0, "tool_timeout_s": 60.0}
