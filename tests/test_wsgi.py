"""The web server's entry (crm/wsgi.py): a gunicorn worker has the provider SDKs imported before it takes its
first request, so the first Retell webhook or inbound call a fresh worker answers does not also pay seconds of
import while the caller waits. Checked in a fresh interpreter with the local stack's environment, as gunicorn
loads the module."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.test_local_stack_cli import REPO, second_terminal_env
from workers.launcher import stack_environment

PROBE = """
import json, sys, time
import crm.wsgi
from providers import factory
t = time.perf_counter()
classes = [factory._provider_class(name).__name__ for name in factory.PROVIDER_NAMES]
print(json.dumps({"loaded": [m for m in ("retell", "vapi", "twilio") if m in sys.modules],
                  "app": type(crm.wsgi.app).__name__, "classes": classes, "build_s": time.perf_counter() - t}))
"""


def test_the_server_entry_imports_every_provider_sdk_before_the_first_request(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    env = stack_environment(var, base=second_terminal_env(var))
    # Without the entry's warm import, a fresh process has none of them (the registry builds providers lazily).
    cold = subprocess.run(
        [sys.executable, "-c", "import sys, crm; print('retell' in sys.modules)"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cold.stdout.strip() == "False", cold.stderr[-2000:]
    run = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["app"] == "Flask"
    assert set(seen["loaded"]) == {"retell", "vapi", "twilio"}, seen
    assert seen["classes"] == ["RetellProvider", "VapiProvider", "BlandProvider", "TwilioRealtimeProvider"]
    assert seen["build_s"] < 0.05, seen  # nothing left to import
