"""`leadchain calendar`: connect names the secret (never takes the password), list shows the status, feed
issues a URL that serves the rep's feed and --revoke closes it."""

from __future__ import annotations

from click.testing import CliRunner

from crm.calendars.cli import calendar_group
from crm.extensions import db
from crm.models import Role, User
from crm.models.calendars import CalendarConnection


def test_connect_list_and_feed(app, client):
    with app.app_context():
        db.session.add(User(email="rep@example.com", name="Rep", role=Role.SALES))
        db.session.commit()
    runner = CliRunner()
    run = lambda *args: runner.invoke(calendar_group, [*args, "--company", "test"], obj={"app": app})  # noqa: E731

    result = run("connect", "rep@example.com", "--url", "http://127.0.0.1:5232/rep/calendar/", "--username", "rep")
    assert result.exit_code == 0, result.output
    assert "companies/1/calendars/1/password" in result.output
    with app.app_context():
        connection = db.session.get(CalendarConnection, 1)
        assert connection.secret_ref == "companies/1/calendars/1/password" and connection.counts_as_busy
    listed = run("list")
    assert listed.exit_code == 0 and "rep@example.com\tsyncing\tnever" in listed.output

    issued = run("feed", "rep@example.com")
    path = issued.output.strip()
    assert issued.exit_code == 0 and path.startswith("/calendar/feed/")
    assert client.get(path).status_code == 200
    assert run("feed", "rep@example.com", "--revoke").exit_code == 0
    assert client.get(path).status_code == 404
    assert run("connect", "nobody@example.com", "--url", "http://x/", "--username", "x").exit_code != 0
