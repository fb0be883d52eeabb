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

from crm.email.settings import company, unsubscribe_scope
from crm.email.suppression import live_lead, object_to_email, tell_chain
from crm.email.tokens import read_token
from crm.extensions import db
from crm.languages import DEFAULT_LANGUAGE
from crm.models import Lead
from workflows.vocabulary import StopReason

log = logging.getLogger(__name__)
bp = Blueprint("email_unsubscribe", __name__)

TEXT = {
    "de": {
        "title": "E-Mails abbestellen",
        "question": "Möchten Sie keine E-Mails mehr von {company} an {email} erhalten?",
        "button": "Jetzt abmelden",
        "done_title": "Sie sind abgemeldet",
        "done": (
            "Sie erhalten keine E-Mails mehr von {company}. Auch telefonisch werden wir Sie nicht mehr kontaktieren."
        ),
        "done_email_only": "Sie erhalten keine E-Mails mehr von {company}.",
        "already": "Diese Adresse ist bereits abgemeldet.",
        "invalid_title": "Link ungültig",
        "invalid": "Dieser Abmeldelink ist ungültig. Bitte nutzen Sie den Link aus der E-Mail.",
    },
    "en": {
        "title": "Unsubscribe",
        "question": "Do you want to stop receiving emails from {company} at {email}?",
        "button": "Unsubscribe now",
        "done_title": "You are unsubscribed",
        "done": "You will not receive any more emails from {company}, and we will not contact you by phone either.",
        "done_email_only": "You will not receive any more emails from {company}.",
        "already": "This address is already unsubscribed.",
        "invalid_title": "Invalid link",
        "invalid": "This unsubscribe link is not valid. Please use the link from the email.",
    },
    "fr": {
        "title": "Se désabonner",
        "question": "Vous ne souhaitez plus recevoir d'e-mails de {company} à l'adresse {email}\u00a0?",
        "button": "Se désabonner maintenant",
        "done_title": "Vous êtes désabonné",
        "done": (
            "Vous ne recevrez plus d'e-mails de {company}, et nous ne vous contacterons plus par téléphone non plus."
        ),
        "done_email_only": "Vous ne recevrez plus d'e-mails de {company}.",
        "already": "Cette adresse est déjà désabonnée.",
        "invalid_title": "Lien non valide",
        "invalid": "Ce lien de désabonnement n'est pas valide. Veuillez utiliser le lien figurant dans l'e-mail.",
    },
}

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
    t = TEXT[lang]
    html = render_template_string(
        PAGE,
        lang=lang,
        title=t[title_key],
        lines=lines,
        form=form,
        button=t["button"],
        action=request.path,
        company=company(),
    )
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _lead_for(token: str) -> Lead | None:
    lead_id = read_token(token)
    return live_lead(db.session.get(Lead, lead_id)) if lead_id else None


def _invalid():
    lang = request.accept_languages.best_match(list(TEXT)) or DEFAULT_LANGUAGE
    return _page(404, lang, title_key="invalid_title", lines=[TEXT[lang]["invalid"]])


@bp.get("/unsubscribe/<token>")
def confirm_page(token: str):
    lead = _lead_for(token)
    if lead is None:
        return _invalid()

    lang = lead.language if lead.language in TEXT else DEFAULT_LANGUAGE
    t = TEXT[lang]
    if lead.email_status in ("unsubscribed", "suppressed"):
        return _page(200, lang, title_key="title", lines=[t["already"]])
    return _page(
        200,
        lang,
        title_key="title",
        form=True,
        lines=[t["question"].format(company=company().name, email=_mask(lead.email))],
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

    t = TEXT[lead.language if lead.language in TEXT else DEFAULT_LANGUAGE]
    done = t["done"] if unsubscribe_scope() == "all" else t["done_email_only"]
    return _page(
        200,
        lead.language if lead.language in TEXT else DEFAULT_LANGUAGE,
        title_key="done_title",
        lines=[done.format(company=company().name)],
    )
