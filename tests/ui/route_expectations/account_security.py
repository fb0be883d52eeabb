"""Two-factor sign-in pages (crm.ui.account_security)."""

import uuid

import sqlalchemy as sa

from crm.api import keys
from crm.extensions import db
from crm.models import Company
from crm.models.api_keys import ApiKey
from crm.tenancy.context import require_company_id
from tests.ui.route_expectations import Route

ROUTES = {
    # Without a half sign-in (a right password of an enrolled user first) the code step sends to /login.
    "account.login_code": [
        Route(expect={"anonymous": 302, "sales": 302, "manager": 302, "admin": 302}),
        Route(
            method="POST",
            data=lambda s: {"code": "123456"},
            expect={"anonymous": 302, "sales": 302, "manager": 302, "admin": 302},
        ),
    ],
    "account.two_factor": [
        Route(expect={"anonymous": 302, "sales": 200, "manager": 200, "admin": 200}),
        # A wrong password: nothing changes.
        Route(
            method="POST",
            data=lambda s: {"action": "enable", "new_code": "123456", "password": "wrong"},
            expect={"anonymous": 302, "sales": 422, "manager": 422, "admin": 422},
        ),
    ],
}


# ---- OIDC sign-in (crm.ui.oidc): public; a company without a provider is a 404 ------------------------

ROUTES.update(
    {
        "oidc.choose": Route(
            query=lambda s: {"company": "test"}, expect={"anonymous": 200, "sales": 200, "manager": 200, "admin": 200}
        ),
        "oidc.start": Route(
            url_args=lambda s: {"slug": "test"}, expect={"anonymous": 404, "sales": 404, "manager": 404, "admin": 404}
        ),
        "oidc.callback": Route(
            url_args=lambda s: {"slug": "test"}, expect={"anonymous": 404, "sales": 404, "manager": 404, "admin": 404}
        ),
    }
)


# ---- Settings → Sign-in and Settings → API keys (admins only) -----------------------------------------

ADMIN_PAGE = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 200}


def _key(s):
    issued = keys.issue(require_company_id(), f"matrix-{s.perspective}-{uuid.uuid4().hex[:8]}", ["read"])
    db.session.commit()
    return {"key_id": issued.key_id}


def keys_snapshot(s):
    return sorted(db.session.execute(sa.select(ApiKey.id, ApiKey.revoked_at, ApiKey.expires_at)).all())


def company_sign_in_snapshot(s):
    c = db.session.get(Company, require_company_id())
    return (c.require_two_factor, c.oidc_issuer, c.oidc_client_id, c.oidc_create_users)


ROUTES.update(
    {
        "settings.security": Route(expect=ADMIN_PAGE),
        "settings.save_security": Route(
            method="POST",
            data=lambda s: {"oidc_issuer": "https://id.example.test", "oidc_client_id": "crm"},
            snapshot=company_sign_in_snapshot,
            expect={"anonymous": 302, "sales": 403, "manager": 403, "admin": 302},
        ),
        "settings.api_keys": Route(expect=ADMIN_PAGE),
        "settings.create_api_key": Route(
            method="POST",
            data=lambda s: {"name": f"matrix {s.perspective}", "scopes": "intake"},
            snapshot=keys_snapshot,
            expect={"anonymous": 302, "sales": 403, "manager": 403, "admin": 201},
        ),
        "settings.rotate_api_key": Route(
            method="POST",
            setup=_key,
            url_args=lambda s: {"key_id": s.extra["key_id"]},
            snapshot=keys_snapshot,
            expect={"anonymous": 302, "sales": 403, "manager": 403, "admin": 201},
        ),
        "settings.revoke_api_key": Route(
            method="POST",
            setup=_key,
            url_args=lambda s: {"key_id": s.extra["key_id"]},
            snapshot=keys_snapshot,
            expect={"anonymous": 302, "sales": 403, "manager": 403, "admin": 302},
        ),
    }
)
