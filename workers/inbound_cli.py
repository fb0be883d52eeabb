"""`leadchain inbound-configure-bland`: point every company's Bland inbound numbers at this CRM (issue 17,
docs/inbound.md sec. 7). `make up` runs it once the web and the sandbox are up (workers/launcher.py)."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from crm import create_app
from crm.inbound import bland_numbers

console = Console(stderr=False, soft_wrap=True)


def _app():
    return create_app()


@click.command("inbound-configure-bland")
@click.option("--url", "base_url", default=None, help="the CRM's URL Bland calls (default: LEADCHAIN_PUBLIC_URL)")
def inbound_configure_bland(base_url: str | None) -> None:
    """Point every company's Bland inbound numbers at this CRM (idempotent: Bland keeps one configuration each)."""
    app = _app()
    with app.app_context():
        url = base_url or app.config["LEADCHAIN"].providers.public_url
        if not url:
            raise click.UsageError("give --url or set LEADCHAIN_PUBLIC_URL: where Bland's requests reach the CRM")
        results = bland_numbers.configure_all(url)
    failed = 0
    for company_id, done in results.items():
        for number in done:
            console.print(f"company {company_id}: Bland number {number.e164}: {number.detail}")
            failed += not number.ok
    if not results:
        console.print("no Bland inbound numbers")
    sys.exit(1 if failed else 0)
