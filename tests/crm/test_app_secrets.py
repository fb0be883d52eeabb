"""The app reads its webhook and API secrets from a real OpenBao when VAULT_ADDR is set."""

from __future__ import annotations

import json

from crm import create_app
from crm.secrets import VaultSecrets, secrets_from_env
from tests.helpers import signed_headers

SECRET = "whsec_" + "dmF1bHQtc2VjcmV0LWZvci13ZWJzaXRlLWxlYWRz"


def test_webhook_secret_and_api_key_from_openbao(openbao, migrated_urls):
    openbao.write("leadchain/webhooks", {"leads-vaultsrc": SECRET})
    openbao.write("leadchain/api", {"keys": "vault-client:vault-key-123456"})
    openbao.write("leadchain/app", {"chain-key": "vault-chain-key-for-tests"})  # intake refuses without one
    secrets = secrets_from_env({"VAULT_ADDR": openbao.url, "VAULT_TOKEN": openbao.root_token})
    assert isinstance(secrets, VaultSecrets)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]}, secrets=secrets)
    client = app.test_client()
    body = json.dumps({"email": "vault.lead@example.de"}).encode()
    ok = client.post("/webhooks/leads/vaultsrc", data=body, headers=signed_headers(SECRET, body))
    assert ok.status_code == 202, ok.get_json()
    from tests.helpers import process

    lead_id = process(app, ok)["lead_id"]
    wrong = "whsec_" + "b3RoZXItc2VjcmV0LW5vdC1pbi12YXVsdC1hdC1hbGw="
    assert client.post("/webhooks/leads/vaultsrc", data=body, headers=signed_headers(wrong, body)).status_code == 401
    r = client.get(f"/api/v1/leads/{lead_id}", headers={"X-API-Key": "vault-key-123456"})
    assert r.status_code == 200 and r.get_json()["email"] == "vault.lead@example.de"
    # The secret never shows up in what the app answers.
    assert SECRET not in r.get_data(as_text=True) and "vault-key-123456" not in r.get_data(as_text=True)
    from crm.extensions import db

    with app.app_context():
        import sqlalchemy as sa

        from crm.models import AuditEntry, Lead, LeadSubmission, WebhookDelivery

        db.session.execute(sa.delete(WebhookDelivery))
        db.session.execute(sa.delete(LeadSubmission))
        db.session.execute(sa.delete(AuditEntry))
        db.session.execute(sa.delete(Lead))
        db.session.commit()
        db.engine.dispose()
