"""Sign-in, sign-out, language switch, own password (crm.ui.auth)."""

from tests.ui.route_expectations import Route

EVERYONE = {"anonymous": 200, "sales": 200, "manager": 200, "admin": 200}

ROUTES = {
    "auth.login": [
        # Signed-in users are sent on to the dashboard.
        Route(expect={"anonymous": 200, "sales": 302, "manager": 302, "admin": 302}),
        # A wrong password for everyone: 401 with the form again, nothing changes.
        Route(
            method="POST",
            data=lambda s: {"email": "nobody@example.test", "password": "x" * 20},
            expect={"anonymous": 401, "sales": 401, "manager": 401, "admin": 401},
        ),
    ],
    "auth.logout": Route(method="POST", expect={"anonymous": 302, "sales": 302, "manager": 302, "admin": 302}),
    "auth.set_language": Route(
        method="POST",
        data=lambda s: {"language": "en", "next": "/login"},
        expect={"anonymous": 302, "sales": 302, "manager": 302, "admin": 302},
    ),
    "auth.change_password": [
        Route(expect={"anonymous": 302, "sales": 200, "manager": 200, "admin": 200}),
        Route(
            method="POST",
            data=lambda s: {"current_password": "wrong", "new_password": "x", "new_password_repeat": "x"},
            expect={"anonymous": 302, "sales": 422, "manager": 422, "admin": 422},
        ),
    ],
}
