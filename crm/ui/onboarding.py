"""The setup wizard (issue 20, docs/onboarding.md): a new company's admin goes from company details to a
test call in seven screens. Each screen validates and names every bad field (422); a provider that refuses
is a 502 naming the step, never a 500. Progress is kept per company, so an abandoned wizard resumes at the
first screen not done; "undo" on the phone screen deletes what was provisioned at the provider."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from crm.extensions import db
from crm.models.companies import STATES
from crm.models.phone_numbers import PhoneNumber
from crm.onboarding import invites, lead_source_setup, provisioning, test_calls
from crm.onboarding import progress as wizard
from crm.onboarding.vendor import ProvisioningFailed
from crm.secrets import SecretsError
from crm.services import settings_store
from crm.ui import onboarding_forms as forms
from crm.ui.access import admin_only
from crm.ui.i18n import _
from crm.ui.onboarding_vendors import vendor
from crm.ui.password_hashing import hasher

log = logging.getLogger(__name__)
bp = Blueprint("onboarding", __name__, url_prefix="/onboarding")
PROFILE_FIELDS = ("name", "timezone", "state", "language", "brand_color", "logo_url", "sender_email", "sender_name")


def _titles() -> dict[str, str]:
    return {
        "company": _("Company and imprint"),
        "hours": _("Business hours and holidays"),
        "team": _("Team"),
        "phone": _("Phone number and voice agent"),
        "calendars": _("Calendars"),
        "lead_sources": _("Lead sources"),
        "test_call": _("Test call"),
    }


def _company():
    row = settings_store.company()
    if row is None:  # an operator outside any company: nothing to set up here
        abort(404)
    return row


def _page(screen: str, *, status: int = 200, problems: dict[str, str] | None = None, **context: Any):
    company = _company()
    row = wizard.progress(company.id)
    return render_template(
        "ui/onboarding/wizard.html",
        screen=screen,
        screens=wizard.SCREENS,
        titles=_titles(),
        done=row.completed or [],
        answers=row.answers or {},
        number=wizard.SCREENS.index(screen) + 1,
        company=company,
        problems=problems or {},
        states=STATES,
        live=provisioning.live_objects(company.id) if screen in ("phone", "test_call") else [],
        # The test-call form's one-off token (crm.onboarding.test_calls): a new one on every page shown.
        attempt=test_calls.new_attempt() if screen == "test_call" else None,
        **context,
    ), status


def _next(screen: str) -> ResponseReturnValue:
    later = wizard.SCREENS[wizard.SCREENS.index(screen) + 1 :]
    return redirect(url_for("onboarding.screen", screen=later[0]) if later else url_for("onboarding.start"))


@bp.get("/")
@admin_only
def start() -> ResponseReturnValue:
    """Resume: the first screen not done, or the summary when every screen is."""
    company = _company()
    row = wizard.progress(company.id)
    db.session.commit()
    first = wizard.next_screen(row)
    if first is not None:
        return redirect(url_for("onboarding.screen", screen=first))
    return render_template("ui/onboarding/done.html", company=company, titles=_titles(), screens=wizard.SCREENS)


@bp.get("/<screen>")
@admin_only
def screen(screen: str) -> ResponseReturnValue:
    if screen not in wizard.SCREENS:
        abort(404)
    context: dict[str, Any] = {}
    company = _company()
    if screen == "company":
        context["values"] = {"name": company.name, "imprint": company.imprint or ""}
    elif screen == "hours":
        context["values"] = {**forms.hours_defaults(wizard.progress(company.id).answers or {}), "state": company.state}
    elif screen == "test_call" and request.args.get("call"):
        context.update(_test_call_view(request.args["call"]))
    return _page(screen, **context)


@bp.post("/<screen>")
@admin_only
def save(screen: str) -> ResponseReturnValue:
    handlers = {
        "company": _save_company,
        "hours": _save_hours,
        "team": _save_team,
        "phone": _save_phone,
        "calendars": _save_calendars,
        "lead_sources": _save_lead_sources,
        "test_call": _save_test_call,
    }
    if screen not in handlers:
        abort(404)
    return handlers[screen]()


def _save_company() -> ResponseReturnValue:
    from crm.ui.settings.company import ProfileError, validate  # the settings page's own checks

    company = _company()
    given = {f: getattr(company, f) or "" for f in PROFILE_FIELDS}
    given.update(name=request.form.get("name", ""), imprint=request.form.get("imprint", ""))
    problems: dict[str, str] = {}
    try:
        values = validate(given)
    except ProfileError as e:
        problems = e.problems
    if not given["imprint"].strip():
        problems["imprint"] = _("the imprint is required")  # every screen names every bad field at once
    if problems:
        return _page("company", status=422, problems=problems, values=given)
    company.name, company.imprint = values["name"], values["imprint"]
    wizard.complete(wizard.progress(company.id), "company")
    return _next("company")


def _save_hours() -> ResponseReturnValue:
    company = _company()
    try:
        values = forms.hours(request.form)
    except forms.FormProblems as e:
        return _page("hours", status=422, problems=e.problems, values=dict(request.form))
    company.state = values.pop("state")
    wizard.complete(wizard.progress(company.id), "hours", **values)
    return _next("hours")


def _save_team() -> ResponseReturnValue:
    company = _company()
    try:
        emails, role = forms.invites(request.form)
    except forms.FormProblems as e:
        return _page("team", status=422, problems=e.problems, values=dict(request.form))
    sent = 0
    for email in emails:
        try:
            sent += invites.invite(email, role, company.name, company.language)
        except invites.InviteNotSent:
            problem = _("The invitation to %(email)s could not be sent; please try again.", email=email)
            return _page("team", status=502, problems={"emails": problem}, values=dict(request.form))
    if sent:
        flash(_("%(num)d invitation(s) sent.", num=sent), "success")
    wizard.complete(wizard.progress(company.id), "team")
    return _next("team")


def _save_phone() -> ResponseReturnValue:
    company = _company()
    row = wizard.progress(company.id)
    if request.form.get("action") == "undo":
        return _undo_phone(company, row)
    try:
        provider, area_code = forms.phone(request.form)
    except forms.FormProblems as e:
        return _page("phone", status=422, problems=e.problems, values=dict(request.form))
    try:
        setup = vendor(provider, company.id, company.language, area_code)
        created = provisioning.provision(setup, company.id)
        e164 = setup.number_of(created)
    except ProvisioningFailed as e:
        db.session.rollback()
        log.warning("onboarding: company %s %s provisioning failed at %s", company.id, provider, e.step)
        problem = _("The provider did not complete step %(step)s: %(reason)s", step=e.step, reason=e.message)
        return _page("phone", status=502, problems={"provider": problem}, values=dict(request.form))
    agent = created.get("agent") or created.get("assistant")
    number = db.session.execute(db.select(PhoneNumber).filter_by(e164=e164)).scalar_one_or_none()
    if number is None:  # routes inbound calls to the new number to this company (crm.inbound.numbers)
        db.session.add(
            PhoneNumber(
                company_id=company.id,
                e164=e164,
                provider=provider,
                agent_ref=agent,
                language=company.language,
                business_hours=(row.answers or {}).get("business_hours"),
            )
        )
    wizard.complete(row, "phone", provider=provider, number=e164)
    return _next("phone")


def _undo_phone(company, row) -> ResponseReturnValue:
    provider = (row.answers or {}).get("provider") or request.form.get("provider", "")
    if provider not in forms.PROVIDERS:
        return _page("phone", status=422, problems={"provider": _("choose Retell, Vapi or Bland")})
    try:
        removed = provisioning.undo(vendor(provider, company.id, company.language), company.id)
    except ProvisioningFailed as e:
        db.session.rollback()
        problem = _("The provider did not complete step %(step)s: %(reason)s", step=e.step, reason=e.message)
        return _page("phone", status=502, problems={"provider": problem})
    number = (row.answers or {}).get("number")
    if number:
        db.session.execute(db.delete(PhoneNumber).filter_by(company_id=company.id, e164=number))
    row.answers = {k: v for k, v in (row.answers or {}).items() if k not in ("provider", "number")}
    wizard.forget(row, "phone")
    flash(_("Removed %(num)d object(s) at the provider.", num=removed), "success")
    return redirect(url_for("onboarding.screen", screen="phone"))


def _save_calendars() -> ResponseReturnValue:
    company = _company()
    wizard.complete(wizard.progress(company.id), "calendars")
    return _next("calendars")


def _save_lead_sources() -> ResponseReturnValue:
    company = _company()
    settings = _settings_public_url()
    try:
        earlier = (wizard.progress(company.id).answers or {}).get("lead_source")
        source = lead_source_setup.create_source(company.id, company.slug, settings, earlier)
    except SecretsError:
        db.session.rollback()
        problem = _("The secrets store did not take the new secret; please try again.")
        return _page("lead_sources", status=503, problems={"source": problem})
    wizard.complete(wizard.progress(company.id), "lead_sources", lead_source=source.slug)
    # Shown once, on this answer only: the secret is in the secrets store and nowhere else.
    return _page("lead_sources", source=source, snippets=lead_source_setup.snippets(source))


def _settings_public_url() -> str:
    from flask import current_app

    cfg = current_app.config["LEADCHAIN"]
    return cfg.providers.public_url or cfg.email.public_url or request.host_url


def _save_test_call() -> ResponseReturnValue:
    company = _company()
    row = wizard.progress(company.id)
    answers = row.answers or {}
    if answers.get("provider") not in forms.PROVIDERS:
        return _page("test_call", status=422, problems={"to_number": _("set up a phone number first")})
    try:
        to_number, attempt = forms.test_call(request.form)
    except forms.FormProblems as e:
        return _page("test_call", status=422, problems=e.problems)
    claimed = test_calls.claim(company.id, attempt, answers["provider"])
    if claimed is None:  # this form was sent before: show that call, never ring a second time
        return _earlier_test_call(company.id, attempt)
    try:
        setup = vendor(answers["provider"], company.id, company.language)
        created = {o.step: o.external_id for o in provisioning.live_objects(company.id) if o.external_id}
        count = int(answers.get("test_calls", 0)) + 1
        call_id = setup.place_test_call(created, to_number, key=f"onboarding-{company.id}-test-{count}")
    except ProvisioningFailed as e:
        test_calls.failed(claimed, e.message)
        db.session.commit()
        problem = _("The provider did not complete step %(step)s: %(reason)s", step=e.step, reason=e.message)
        return _page("test_call", status=502, problems={"to_number": problem})
    test_calls.placed(claimed, call_id)
    row = wizard.progress(company.id)
    row.answers = {**(row.answers or {}), "test_calls": count}
    db.session.commit()
    return redirect(url_for("onboarding.screen", screen="test_call", call=call_id))


def _earlier_test_call(company_id: int, attempt: str) -> ResponseReturnValue:
    found = test_calls.earlier(company_id, attempt)
    if found is not None and found.call_id:
        return redirect(url_for("onboarding.screen", screen="test_call", call=found.call_id))
    if found is None:
        problem = _("This form was sent already and its call is still being placed; please wait a moment.")
    else:
        problem = _("This form was sent already and that call did not go through; please try again.")
    return _page("test_call", status=409, problems={"to_number": problem})


def _test_call_view(call_id: str) -> dict[str, Any]:
    company = _company()
    row = wizard.progress(company.id)
    provider = (row.answers or {}).get("provider")
    if provider not in forms.PROVIDERS or len(call_id) > 100:
        abort(404)
    try:
        view = vendor(provider, company.id, company.language).read_test_call(call_id)
    except ProvisioningFailed:
        abort(404)
    if view.ended:
        wizard.complete(row, "test_call")
    return {"call_id": call_id, "call": view}


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invite(token: str) -> ResponseReturnValue:
    """Public: the invited user chooses a password (the token is the credential; it works once)."""
    invited = invites.read_token(token)
    if invited is None:
        return render_template("ui/onboarding/invite.html", invalid=True, problems={}), 404
    if request.method == "GET":
        return render_template("ui/onboarding/invite.html", invalid=False, problems={}, email=invited.email)
    password = request.form.get("password", "")
    if len(password) < 12:
        problems = {"password": _("at least 12 characters")}
        return render_template("ui/onboarding/invite.html", invalid=False, problems=problems, email=invited.email), 422
    invited.password_hash = hasher().hash(password)
    db.session.commit()
    flash(_("Password set. Please sign in."), "success")
    return redirect(url_for("auth.login"))
