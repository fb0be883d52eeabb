"""`leadchain privacy`: show a request's steps and write its export once; `open` refuses bad identifiers
before touching anything and says when nobody matches (the workflow start itself: tests/privacy/test_erasure_e2e.py)."""

from __future__ import annotations

from click.testing import CliRunner

from crm.extensions import db
from crm.models import PrivacyRequest
from crm.models.types import utcnow
from crm.privacy import requests
from crm.privacy.cli import privacy_group
from tests.helpers import in_app


def test_show_and_download_once(app, tmp_path):
    def add() -> int:
        now = utcnow()
        found = PrivacyRequest(
            kind="export", status="done", requester="subject", received_via="email", identity_check="id",
            lead_ids=[], received_at=now, due_at=now, opened_by="t", archive=b"PK-cli", archive_sha256="b" * 64,
        )  # fmt: skip
        db.session.add(found)
        db.session.flush()
        requests.log_step(found.id, "export:archive", "done", "6 bytes")
        db.session.commit()
        return found.id

    request_id = in_app(app, add)
    run = lambda *args: CliRunner().invoke(privacy_group, [*args, "--company", "test"], obj={"app": app})  # noqa: E731
    shown = run("show", str(request_id))
    assert shown.exit_code == 0 and "export:archive: 6 bytes" in shown.output
    out = tmp_path / "export.zip"
    assert run("download", str(request_id), "--out", str(out)).exit_code == 0 and out.read_bytes() == b"PK-cli"
    again = run("download", str(request_id), "--out", str(out))
    assert again.exit_code == 1 and "downloaded already" in again.output
    bad = run("open", "--kind", "erasure", "--email", "not-an-address", "--identity-check", "x")
    assert bad.exit_code == 2 and "--email" in bad.output
    nobody = run("open", "--kind", "erasure", "--email", "nobody@example.com", "--identity-check", "x")
    assert nobody.exit_code == 1 and "no lead record matches" in nobody.output
