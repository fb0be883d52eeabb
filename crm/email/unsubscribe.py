"""GET/POST /unsubscribe/<token>: the link in every email and its RFC 8058 one-click POST.

* GET shows a page in the lead's language with a confirm button and changes nothing, so link
  scanners and prefetchers cannot unsubscribe anyone.
* POST unsubscribes at once: the mailbox provider's one-click POST (body
  ``List-Unsubscribe=One-Click``, no cookies, no CSRF token: the signed token in the URL is the
  authorisation) and the confirm form alike. Email status "unsubscribed", email consent withdrawn,
  audit entry, do-not-contact on every channel with the default scope (docs/compliance.md §P5), then the
  lead's chain is told to stop (reason "unsubscribed"). A repeat is a no-op that answers the same.

Register ``bp`` on the app (plain Flask blueprint, no URL prefix); exempt it from CSRF protection.
"""

from __future__ import annotations

import logging

from flask import Blueprint, make_response, render_template_string, request

from crm import catalogs
from crm.catalogs import N_
from crm.email.settings import company, unsubscribe_scope
from crm.email.suppression import live_lead, object_to_email, tell_chain
from crm.email.tokens import read_token
from crm.extensions import db
from crm.languages import DEFAULT_LANGUAGE, LANGUAGES
from crm.models import Lead
from crm.tenancy.routing import company_of_lead
from crm.tenancy.web import bind_request_company
from workflows.vocabulary import StopReason

log = logging.getLogger(__name__)
bp = Blueprint("email_unsubscribe", __name__)

# The page's words (msgids of the ``email`` catalogue, so every language that has emails has this page).
TEXT = {
    "title": N_("Unsubscribe"),
    "question": N_("Do you want to stop receiving emails from %(company)s at %(email)s?"),
    "button": N_("Unsubscribe now"),
    "done_title": N_("You are unsubscribed"),
    "done": N_("You will not receive any more emails from %(company)s, and we will not contact you by phone either."),
    "done_email_only": N_("You will not receive any more emails from %(company)s."),
    "already": N_("This address is already unsubscribed."),
    "invalid_title": N_("Invalid link"),
    "invalid": N_("This unsubscribe link is not valid. Please use the link from the email."),
}


def _t(lang: str, key: str, **values: str) -> str:
    return catalogs.gettext(lang, "email", TEXT[key], **values)


PAGE = """<!doctype html><html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>{{ title }}</title>
<style>body{font-family:Arial,Helvetica,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1f2933}
button{font-size:1rem;padding:.6rem 1.2rem;background:#0b5cab;color:#fff;border:0;border-radius:4px;cursor:pointer}
.muted{color:#6b7280;font-size:.8rem;margin-top:3rem}</style></head><body>
<h1>{{ title }}</h1>
{% for line in lines %}<p>{{ line }}</p>{% endfor %}
{% if form %}<form method="post" action="{{ action }}"><input type="hidden" name="confirm" value="1">
<button type="submit">{{ button }}</button></form>{% endif %}
<p class="muted">{{ company.name }} &middot; {{ company.address }} &middot; {{ company.register }}</p>
</body></html>"""


def _mask(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(1, min(len(local) - 1, 6))}@{domain}"


def _page(status: int, lang: str, *, title_key: str, lines: list[str], form: bool = False):
    html = render_template_string(
        PAGE,
        lang=lang,
        title=_t(lang, title_key),
        lines=lines,
        form=form,
        button=_t(lang, "button"),
        action=request.path,
        company=company(),
    )
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _language(lead: Lead) -> str:
    return lead.language if lead.language in LANGUAGES else DEFAULT_LANGUAGE


def _lead_for(token: str) -> Lead | None:
    lead_id = read_token(token)
    company_id = company_of_lead(lead_id) if lead_id else None
    if lead_id is None or company_id is None:
        return None
    bind_request_company(company_id)  # the signed token names the lead; the lead names its company
    return live_lead(db.session.get(Lead, lead_id))


def _invalid():
    lang = request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE
    return _page(404, lang, title_key="invalid_title", lines=[_t(lang, "invalid")])


@bp.get("/unsubscribe/<token>")
def confirm_page(token: str):
    lead = _lead_for(token)
    if lead is None:
        return _invalid()

    lang = _language(lead)
    if lead.email_status in ("unsubscribed", "suppressed"):
        return _page(200, lang, title_key="title", lines=[_t(lang, "already")])
    return _page(
        200,
        lang,
        title_key="title",
        form=True,
        lines=[_t(lang, "question", company=company().name, email=_mask(lead.email))],
    )


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    lead = _lead_for(token)
    if lead is None:
        return _invalid()
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    via = "one_click" if one_click else "unsubscribe_page"
    changed = object_to_email(lead, status="unsubscribed", actor=f"recipient:{via}", via=via)
    db.session.commit()
    if changed:
        how = tell_chain(lead, StopReason.UNSUBSCRIBED, actor=f"recipient:{via}")
        log.info("lead %s unsubscribed (%s); chain: %s", lead.id, via, how)

    lang = _language(lead)
    done = _t(lang, "done" if unsubscribe_scope() == "all" else "done_email_only", company=company().name)
    return _page(200, lang, title_key="done_title", lines=[done])
