"""The wizard's lead source: a website source with a fresh Standard Webhooks secret, shown once.

The secret goes to the secrets store (companies/<id>/lead-sources/<slug>, where the webhook looks it up)
and to the page that created it; it is not kept anywhere else. The snippets show how to sign a lead."""

from __future__ import annotations

import base64
import secrets as random_bytes
from dataclasses import dataclass

from flask import current_app

from crm.extensions import db
from crm.models.lead_sources import LeadSource
from crm.tenancy.routing import lead_source_secret_name


@dataclass(frozen=True)
class NewSource:
    slug: str
    url: str
    secret: str


def new_secret() -> str:
    return "whsec_" + base64.b64encode(random_bytes.token_bytes(32)).decode()


def create_source(company_id: int, company_slug: str, public_url: str, existing: str | None = None) -> NewSource:
    """A source "<company slug>-web" (a suffix when taken) with a freshly generated secret; with `existing`
    (the wizard's source from an earlier visit) that source gets a new secret instead of a second source."""
    if existing and db.session.query(LeadSource.id).filter_by(slug=existing, company_id=company_id).first():
        secret = new_secret()
        current_app.extensions["leadchain.secrets"].put(lead_source_secret_name(company_id, existing), secret)
        return NewSource(slug=existing, url=f"{public_url.rstrip('/')}/webhooks/leads/{existing}", secret=secret)
    base = f"{company_slug}-web"[:60]
    slug, n = base, 1
    while db.session.query(LeadSource.id).filter_by(slug=slug).first() is not None:
        n += 1
        slug = f"{base}-{n}"
    secret = new_secret()
    current_app.extensions["leadchain.secrets"].put(lead_source_secret_name(company_id, slug), secret)
    db.session.add(LeadSource(company_id=company_id, slug=slug, name="Website"))
    db.session.commit()
    return NewSource(slug=slug, url=f"{public_url.rstrip('/')}/webhooks/leads/{slug}", secret=secret)


def snippets(source: NewSource) -> dict[str, str]:
    """curl, Python and an HTML form: how a website posts a lead (the form posts to the site's own server,
    which signs it: a secret in a browser would be public)."""
    curl = (
        'BODY=\'{"first_name":"Anna","email":"anna@example.com","phone":"+4915112345678"}\'\n'
        "ID=msg_$(date +%s); TS=$(date +%s)\n"
        f"KEY=$(echo '{source.secret}' | sed 's/^whsec_//' | base64 -d | xxd -p -c 256)\n"
        'SIG=$(printf \'%s.%s.%s\' "$ID" "$TS" "$BODY" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY -binary'
        " | base64)\n"
        f"curl -X POST '{source.url}' -H 'content-type: application/json' \\\n"
        '  -H "webhook-id: $ID" -H "webhook-timestamp: $TS" -H "webhook-signature: v1,$SIG" -d "$BODY"'
    )
    python = (
        "import json, time, uuid\nfrom datetime import UTC, datetime\n\nimport httpx\n"
        "from standardwebhooks.webhooks import Webhook\n\n"
        f"SECRET = '{source.secret}'\n"
        "body = json.dumps({'first_name': 'Anna', 'email': 'anna@example.com', 'phone': '+4915112345678'})\n"
        "msg_id, now = f'msg_{uuid.uuid4().hex}', time.time()\n"
        "signature = Webhook(SECRET).sign(msg_id, datetime.fromtimestamp(now, UTC), body)\n"
        f"httpx.post('{source.url}', content=body, headers={{\n"
        "    'content-type': 'application/json', 'webhook-id': msg_id,\n"
        "    'webhook-timestamp': str(int(now)), 'webhook-signature': signature})"
    )
    form = (
        '<form method="post" action="/lead">  <!-- your server signs and forwards it (Python above) -->\n'
        '  <input name="first_name" required> <input name="email" type="email">\n'
        '  <input name="phone" type="tel"> <button>Send</button>\n'
        "</form>"
    )
    return {"curl": curl, "python": python, "form": form}
