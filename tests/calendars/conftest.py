"""A real Radicale (CalDAV server from PyPI) on loopback, once per session, in this process: htpasswd users
(plain, no failed-login delay) in a file Radicale re-reads on every request, so a test can revoke a password;
its own storage folder. Each test makes its own calendar, so tests share the server and not their data."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import caldav
import pytest
import radicale.config
import radicale.server

from crm.calendars.connections import secret_name
from crm.extensions import db
from crm.models import Role, User
from crm.models.calendars import CalendarConnection, CalendarKind
from crm.secrets import EnvSecrets
from tests.conftest import make_test_secrets
from tests.sandbox_fixtures import free_port


@dataclass
class RadicaleServer:
    url: str
    users_file: Path

    def add_user(self, name: str, password: str) -> None:
        lines = [line for line in self.users_file.read_text().splitlines() if not line.startswith(f"{name}:")]
        lines.append(f"{name}:{password}")
        self.users_file.write_text("\n".join(lines) + "\n")

    def make_calendar(self, user: str, password: str) -> str:
        client = caldav.DAVClient(url=f"{self.url}/{user}/", username=user, password=password, timeout=10)
        calendar = client.principal().make_calendar(name="Work", cal_id=f"cal-{uuid.uuid4().hex[:10]}")
        return str(calendar.url)


@pytest.fixture(scope="session")
def radicale_server(tmp_path_factory) -> RadicaleServer:
    root = tmp_path_factory.mktemp("radicale")
    users = root / "users"
    users.write_text("")
    port = free_port()
    conf = radicale.config.load([])
    conf.update(
        {
            "server": {"hosts": f"127.0.0.1:{port}"},
            "storage": {"filesystem_folder": str(root / "collections")},
            "auth": {"type": "htpasswd", "htpasswd_filename": str(users), "htpasswd_encryption": "plain", "delay": "0"},
            "logging": {"level": "error", "mask_passwords": "True"},
        },
        "test",
        privileged=True,
    )
    stop_r, stop_w = socket.socketpair()
    thread = threading.Thread(target=radicale.server.serve, args=(conf, stop_r), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        pytest.fail("Radicale did not start")
    yield RadicaleServer(url=f"http://127.0.0.1:{port}", users_file=users)
    stop_w.close()
    thread.join(timeout=10)


@dataclass
class Rep:
    user: User
    connection: CalendarConnection
    calendar_url: str
    login: str
    password: str

    def dav(self) -> caldav.Calendar:
        client = caldav.DAVClient(url=self.calendar_url, username=self.login, password=self.password, timeout=10)
        return client.calendar(url=self.calendar_url)


@pytest.fixture
def connect_rep(app, radicale_server):
    """connect_rep(email, tz) -> a sales rep with a CalDAV connection to a fresh Radicale calendar; the app
    password in the app's secrets store under the connection's secret name."""
    passwords: dict[str, str] = {}

    def _connect(email: str = "rep@example.com", tz: str | None = "Europe/Berlin") -> Rep:
        login = f"u{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        radicale_server.add_user(login, password)
        url = radicale_server.make_calendar(login, password)
        user = User(email=email, name="Rep", role=Role.SALES, timezone=tz)
        db.session.add(user)
        db.session.flush()
        connection = CalendarConnection(user_id=user.id, kind=CalendarKind.CALDAV, name="Work", url=url, username=login)
        db.session.add(connection)
        db.session.flush()
        connection.secret_ref = secret_name(connection.company_id, connection.id)
        db.session.commit()
        passwords[EnvSecrets.env_var(connection.secret_ref)] = password
        app.extensions["leadchain.secrets"] = make_test_secrets(**passwords)
        return Rep(user, connection, url, login, password)

    return _connect


# -- Cal.com, Google and Microsoft through the provider sandbox (over real HTTP) ------------------------------

OAUTH_CLIENTS = {
    # The sandbox's OAuth apps (sandbox/google_calendar.py, sandbox/microsoft_graph.py), as an installation
    # would store its own in Vault.
    "LEADCHAIN_SECRET_CALENDARS_GOOGLE_CLIENT_ID": "sandbox-google-client.apps.googleusercontent.com",
    "LEADCHAIN_SECRET_CALENDARS_GOOGLE_CLIENT_SECRET": "sandbox-google-client-secret",
    "LEADCHAIN_SECRET_CALENDARS_MICROSOFT_CLIENT_ID": "00000000-0000-0000-0000-00000000c0de",
    "LEADCHAIN_SECRET_CALENDARS_MICROSOFT_CLIENT_SECRET": "sandbox-microsoft-client-secret",
}


@dataclass
class ServiceRep:
    user: User
    connection: CalendarConnection
    email: str


@pytest.fixture
def services(app, sandbox):
    """The app pointed at the sandbox (LEADCHAIN_SANDBOX_URL), with the sandbox's OAuth clients installed."""
    from tests.conftest import set_settings

    set_settings(app, "providers", sandbox_url=sandbox.url)
    app.extensions["leadchain.secrets"] = make_test_secrets(**OAUTH_CLIENTS)
    return sandbox


@pytest.fixture
def connect_service(app, services):
    """connect_service(kind, email, tz) -> a rep whose Google/Microsoft calendar went through the consent page
    and the code exchange (the refresh token in the secrets store), or whose Cal.com API key is stored."""
    import httpx

    from crm.calendars.oauth import forget
    from crm.calendars.oauth_connect import authorize_url, exchange_code

    def _connect(kind: CalendarKind, email: str | None = None, tz: str = "Europe/Berlin") -> ServiceRep:
        email = email or f"rep-{uuid.uuid4().hex[:8]}@example.com"
        redirect_uri = "http://127.0.0.1/settings/calendars/oauth"
        if kind is CalendarKind.CALCOM:
            credential = "cal_live_sandbox0000000000000000"
        else:
            name = kind.value
            answer = httpx.get(authorize_url(name, redirect_uri, "state-1", login_hint=email), follow_redirects=False)
            code = httpx.URL(answer.headers["Location"]).params["code"]
            credential = exchange_code(name, code, redirect_uri)
        user = User(email=email, name="Rep", role=Role.SALES, timezone=tz)
        db.session.add(user)
        db.session.flush()
        url = "5077497" if kind is CalendarKind.CALCOM else "primary"
        connection = CalendarConnection(user_id=user.id, kind=kind, name=kind.value, url=url)
        if kind is CalendarKind.CALCOM:
            connection.write_bookings = False
        db.session.add(connection)
        db.session.flush()
        connection.secret_ref = secret_name(connection.company_id, connection.id)
        db.session.commit()
        app.extensions["leadchain.secrets"].put(connection.secret_ref, credential)
        forget(connection.secret_ref)  # another test's grant was stored under this name in this process
        return ServiceRep(user, connection, email)

    return _connect
