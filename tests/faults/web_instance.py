"""One web instance in its own process, for tests that need several (shared rate limits):

    python -m tests.faults.web_instance <key prefix>

Settings come from the environment (DATABASE_URL, LEADCHAIN_RATELIMIT_STORAGE, ...), secrets are the
tests' (tests.conftest.make_test_secrets). Serves on a free port of 127.0.0.1 and prints it on the first
line of stdout; stops on SIGTERM."""

from __future__ import annotations

import sys

from werkzeug.serving import make_server

from crm import create_app
from tests.conftest import make_test_secrets


def main(prefix: str) -> None:
    app = create_app(
        {"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_KEY_PREFIX": prefix}, secrets=make_test_secrets()
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
