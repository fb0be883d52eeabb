"""Stored codes and the machine-written English of the chain, shown in the page's language.

The CRM stores codes (``waiting_for_retry``, ``no_consent``, ``has_phone``) and the lead chain writes its
timeline in English (``workflows/lead_chain.py``: "attempt 2: no_answer", "no call: no_consent (score 35)",
…), because payloads, audit rows and the API speak one neutral language. The page translates at the last
moment, here, so German users read German and the stored data stays as it is:

* ``label(kind, code)``: one code as words ("waiting_for_retry" → "Wartet auf den nächsten Versuch");
  an unknown code is shown as it is (the table: crm/ui/display_labels.py).
* ``chain_text(stage, detail)``: ONE function for every timeline/history detail the chain writes. It
  recognises the detail's pattern (the table ``_RULES``), translates the pattern and the codes inside it,
  and shows a detail it does not know verbatim (never an error: the workflow may gain new texts before
  this table does; tests/ui/test_timeline_i18n.py fails until they are added).
* ``factor_name``/``factor_detail`` (score factors), ``consent_proof``/``consent_reason``, ``task_title``
  and ``appointment_title``/``appointment_location`` (the titles the chain, the bridge and the inbound mail
  write; a rep's own title is shown as typed; both in crm/ui/display_labels.py), ``actor`` (who did it, by name),
  ``audit_title``/``audit_lines`` (audit rows as labelled text, never ids or dict dumps) and
  ``email_subject`` (the chain's template keys).

Every English text is a msgid of the ``ui`` catalogue (crm/locales/<language>/LC_MESSAGES/ui.po).
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import g, has_app_context
from flask_babel import format_datetime

from crm.extensions import db
from crm.models import User
from crm.ui.display_callback import PATTERN as CALLBACK_PATTERN
from crm.ui.display_callback import callback_text
from crm.ui.display_labels import (
    LABELS,
    N_,
    appointment_location,
    appointment_title,
    known,
    label,
    task_title,
)
from crm.ui.i18n import LANGUAGES, _, ngettext
from workflows.vocabulary import EmailTemplate


def _moment(raw: str) -> str:
    """An ISO or "YYYY-MM-DD HH:MM [UTC]" time from a detail, in the user's zone and language."""
    text = raw.strip().removesuffix(" UTC").replace(" ", "T", 1)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return raw
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return format_datetime(at, "short")


def _days(n: str) -> str:
    return ngettext("%(num)d day", "%(num)d days", int(n))


# ---------------------------------------------------------------------------------- chain details

Render = Callable[[re.Match], str]


def _outcome(code: str) -> str:
    code = code.strip()
    return label("outcome", code) if known("outcome", code) else label("stage", code)


def _reason(code: str) -> str:
    """A reason the chain names: a gate reason, a stop reason or an email refusal."""
    code = code.strip()
    for kind in ("gate_reason", "stop_reason", "email_refusal"):
        if known(kind, code):
            return label(kind, code)
    if code.startswith("address "):
        return _("address %(state)s", state=label("reachability", code[8:]))
    return code


def _reopen_reason(text: str) -> str:
    """crm/services/chain_reopen.py: why a finished chain was (not) re-opened."""
    text = text.strip()
    if m := re.fullmatch(r"ended (\d+) days ago; re-opened only (\d+) days after the end", text):
        return _("ended %(ago)s ago; re-opened only %(after)s after the end", ago=_days(m[1]), after=_days(m[2]))
    if m := re.fullmatch(r"new form fill (\d+) days after the end", text):
        return _("new form fill %(days)s after the end", days=_days(m[1]))
    simple = {
        "asked not to be contacted": N_("asked not to be contacted"),
        "an appointment is still ahead": N_("an appointment is still ahead"),
    }
    return _(simple[text]) if text in simple else text


# (pattern, render): matched in order against the whole detail. Keep the workflow's wording here.
_RULES: list[tuple[re.Pattern, Render]] = [
    (re.compile(p), r)
    for p, r in [
        (r"waiting for the lead", lambda m: _("waiting for the lead")),
        (r"new lead", lambda m: _("new lead")),
        (r"attempt (\d+)", lambda m: _("attempt %(num)s", num=m[1])),
        (r"attempt (\d+): (\w+)", lambda m: _("attempt %(num)s: %(outcome)s", num=m[1], outcome=_outcome(m[2]))),
        (r"call", lambda m: _("call")),
        (r"call (\w[\w-]*)", lambda m: _("call via %(provider)s", provider=m[1])),
        (
            r"no call: (\w+) \(score (\d+)\)",
            lambda m: _("no call: %(reason)s (score %(score)s)", reason=_reason(m[1]), score=m[2]),
        ),
        (r"call refused: (\w+)", lambda m: _("call not allowed: %(reason)s", reason=_reason(m[1]))),
        (r"dial refused: (.+)", lambda m: _("dialling refused: %(reason)s", reason=_reason(m[1]))),
        (r"call could not be placed: (.+)", lambda m: _("the call could not be placed: %(error)s", error=m[1])),
        (r"appointment booked on the call", lambda m: _("appointment booked on the call")),
        (r"(\w+): handed to the owner", lambda m: _("%(outcome)s: handed to the owner", outcome=_outcome(m[1]))),
        (r"asked not to be called", lambda m: _("asked not to be called")),
        (r"wrong number: continuing by email", lambda m: _("wrong number: continuing by email")),
        (r"call ended: (\w+)", lambda m: _("call ended: %(outcome)s", outcome=_outcome(m[1]))),
        (r"nurture email (\d+)", lambda m: _("nurture email %(num)s", num=m[1])),
        (r"re-score", lambda m: _("re-score")),
        (r"nurture stopped: (.+)", lambda m: _("nurture stopped: %(reason)s", reason=_reason(m[1]))),
        (r"nurture cycles used up", lambda m: _("nurture cycles used up")),
        (r"stopped: (\w+)", lambda m: _("stopped: %(reason)s", reason=_reason(m[1]))),
        (r"joined running chain (\S+)", lambda m: _("joined the running chain of the same person")),
        (
            r"(\w+) not sent: (.+)",
            lambda m: _("%(email)s not sent: %(error)s", email=label("email_template", m[1]), error=_reason(m[2])),
        ),
        (r"call requested by a rep", lambda m: _("call requested by a rep")),
        (CALLBACK_PATTERN, lambda m: callback_text(m[0])),  # a callback at the caller's stated time
        (
            r"no conversation after (\d+) attempts: email path",
            lambda m: ngettext(
                "no conversation after %(num)d attempt: continuing by email",
                "no conversation after %(num)d attempts: continuing by email",
                int(m[1]),
            ),
        ),
        (r"paused in (\w+)", lambda m: _("paused in “%(stage)s”", stage=label("stage", m[1]))),
        (r"resumed", lambda m: _("resumed")),
        # ScoreReason members (and the rep's call_now): every reason the score table has words for
        ("(" + "|".join(map(re.escape, LABELS["score_reason"])) + ")", lambda m: label("score_reason", m[1])),
        (
            r"submission (\d+): (\w+)",
            lambda m: _("submission %(num)s: %(outcome)s", num=m[1], outcome=label("intake_outcome", m[2])),
        ),
        (
            r"settings changed: calling hours checked again",
            lambda m: _("settings changed: calling hours checked again"),
        ),
        (r"settings changed", lambda m: _("settings changed")),
        (
            r"new submission merged; wait kept until (.+)",
            lambda m: _("new submission merged; the wait is kept until %(when)s", when=_moment(m[1])),
        ),
        (
            r"(?:new submission )?merged; chain stays (\w+)(?:: (.+))?",
            lambda m: (
                _("new submission merged; the chain stays “%(stage)s”", stage=label("stage", m[1]))
                + (f": {_reopen_reason(m[2])}" if m[2] else "")
            ),
        ),
        (
            r"(?:chain )?re-opened after (\w+)(?:: (.+))?",
            lambda m: (
                _("chain re-opened after “%(stage)s”", stage=label("stage", m[1]))
                + (f": {_reopen_reason(m[2])}" if m[2] else "")
            ),
        ),
        (r"(\w+)", lambda m: _outcome(m[1])),  # following_up writes the bare classification/status
    ]
]


def match_rule(detail: str) -> int | None:
    """The index of the rule that recognises `detail` (None: shown verbatim). For the tests."""
    text = (detail or "").strip()
    for n, (pattern, _render) in enumerate(_RULES):
        if pattern.fullmatch(text):
            if n == len(_RULES) - 1 and not (known("outcome", text) or known("stage", text)):
                return None
            return n
    return None


def chain_text(stage: str | None, detail: str | None) -> str:
    """A detail the chain wrote (timeline, history, next step) in the page language; unknown: verbatim."""
    text = (detail or "").strip()
    if not text:
        return ""
    n = match_rule(text)
    if n is None:
        return text
    pattern, render = _RULES[n]
    match = pattern.fullmatch(text)
    if match is None:  # match_rule found this rule by the same fullmatch
        return text
    try:
        return render(match)
    except Exception:  # noqa: BLE001 - a detail is never worth an error page: show it as written
        return text


# -------------------------------------------------------------------------------------- the score


def factor_name(name: str) -> str:
    if name.startswith("call:"):
        return _("Call: %(outcome)s", outcome=_outcome(name[5:]))
    return label("factor", name)


def factor_detail(name: str, detail: str | None) -> str:
    """crm/services/scoring.py compute(): the English detail of one factor, in the page language."""
    text = (detail or "").strip()
    if not text:
        return ""
    if name == "source":
        if m := re.fullmatch(r"(.*) \(as (.+)\)", text):
            return _("%(source)s (counted as %(head)s)", source=m[1], head=m[2])
        if m := re.fullmatch(r"(.*) \(default\)", text):
            return _("%(source)s (default points)", source=_("no source") if m[1] == "none" else m[1])
        return text
    fixed = {
        "has phone": N_("has a phone number"),
        "has email": N_("has an email address"),
        "has company": N_("has a company"),
        "has full name": N_("first and last name given"),
        "express phone consent": N_("express consent to calls"),
        "email consent": N_("consent to emails"),
        "interest field filled in": N_("interest field filled in"),
    }
    if text in fixed:
        return _(fixed[text])
    if m := re.fullmatch(r"intake note mentions '(.+)'|intake note mentions \"(.+)\"", text):
        return _("the intake note mentions “%(word)s”", word=m[1] or m[2])
    if m := re.fullmatch(r"(\d+) opens", text):
        return ngettext("%(num)d open", "%(num)d opens", int(m[1]))
    if m := re.fullmatch(r"(\d+) clicks", text):
        return ngettext("%(num)d click", "%(num)d clicks", int(m[1]))
    if m := re.fullmatch(r"(\d+) call\(s\) with outcome (\w+)", text):
        return ngettext(
            "%(num)d call with the outcome “%(outcome)s”",
            "%(num)d calls with the outcome “%(outcome)s”",
            int(m[1]),
            outcome=_outcome(m[2]),
        )
    return text  # a domain name, or a text this table does not know yet


# ------------------------------------------------------------------------------------ consent etc.


def consent_proof(text: str | None) -> str:
    """Proof texts written by the intake ("website: consent field answered 'ja'") and the edit form
    ("… (recorded by Name, user 3)"); anything else was typed by a person and is shown as it is."""
    text = (text or "").strip()
    if m := re.fullmatch(r"(.*): consent field answered (['\"])(.*)\2", text, re.S):
        return _("%(source)s: consent field answered “%(answer)s”", source=m[1], answer=m[3])
    if m := re.fullmatch(r"(.*) \(recorded by (.*), user (\d+)\)", text, re.S):
        return _("%(proof)s (recorded by %(name)s)", proof=m[1], name=m[2])
    return text


def consent_reason(text: str | None) -> str:
    """Why a consent was withdrawn / a lead marked do-not-contact, when the CRM wrote it."""
    text = (text or "").strip()
    fixed = {
        "withdrawn in the CRM": N_("withdrawn in the CRM"),
        "asked not to be called": N_("asked not to be called"),
        "requested via API": N_("requested via the API"),
        "wrong number": N_("wrong number"),
        "marked in the CRM": N_("marked in the CRM"),
    }
    if text in fixed:
        return _(fixed[text])
    if m := re.fullmatch(r"(objection: )?email (unsubscribe|marked as spam) \((\w+)\)", text):
        what = _("email unsubscribe") if m[2] == "unsubscribe" else _("email marked as spam")
        return _("objection: %(what)s", what=what) if m[1] else what
    return text


def duplicate_reason(text: str | None) -> str:
    """crm/services/intake.py: why two leads look like one person."""
    text = (text or "").strip()
    if m := re.fullmatch(r"similar name \((\d+)\) and company \((\d+)\)", text):
        return _("similar name (%(name)s) and company (%(company)s)", name=m[1], company=m[2])
    fixed = {"name and company match": N_("name and company match"), "same name": N_("same name")}
    return _(fixed[text]) if text in fixed else text


def email_subject(subject: str | None, step: Any = None) -> str | None:
    """The chain stores its template key as an email's subject: shown as the email's name."""
    if subject and known("email_template", subject):
        name = label("email_template", subject)
        return f"{name} {step}" if subject == EmailTemplate.NURTURE and step else name
    return subject


# -------------------------------------------------------------------------------------- who did it

_ACTOR_CODE = re.compile(r"(ui|user):(\d{1,10})")


def _user_names(ids: Iterable[int]) -> dict[int, str]:
    """User names by id, once per request (the audit log keeps ids, the page shows names)."""
    cache: dict[int, str] = g.setdefault("display_user_names", {}) if has_app_context() else {}
    missing = [i for i in set(ids) if i not in cache]
    if missing and has_app_context():
        cache.update({u.id: u.name for u in db.session.scalars(sa.select(User).where(User.id.in_(missing)))})
    return cache


def user_name(user_id: Any) -> str:
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        return "–" if user_id in (None, "") else str(user_id)
    return _user_names([uid]).get(uid) or _("user #%(id)d", id=uid)


def actor(code: str | None, names: Mapping[str, str] | None = None) -> str:
    """Who did something, for "by %(actor)s": a user's name, or what a system actor is, in words."""
    code = (code or "").strip()
    if names and code in names:
        return names[code]
    if m := _ACTOR_CODE.fullmatch(code):
        return user_name(m[2])
    head, _sep, rest = code.partition(":")
    systems = {
        "chain": N_("the chain"),
        "system": N_("the system"),
        "assignment": N_("the assignment rules"),
        "voice-bridge": N_("the voice assistant"),
        "sendgrid": N_("the email service"),
        "sendgrid-inbound": N_("the email service"),
        "recipient": N_("the recipient"),
        "cli": N_("the command line"),
        "demo": N_("the demo data"),
    }
    if code == "system:call-gate":
        return _("the call check")
    if head == "api":
        return _("the API client %(name)s", name=rest) if rest else _("the API")
    if head == "webhook":
        return _("the web form %(name)s", name=rest) if rest else _("a web form")
    if head in systems:
        return _(systems[head])
    return code


# --------------------------------------------------------------------------------------- audit log

HIDDEN_FIELDS = {
    "chain_id",
    "detail",
    "model_version",
    "reason",
    "updated_at",
    "call_id",
    "previous_stage",
    "match_key",
    "email_key",
}


def _yes_no(value: Any) -> str:
    return _("yes") if value else _("no")


def _mapping_text(value: Mapping[str, Any]) -> str:
    """A stored dict as "Label: value; …" (never a Python dump)."""
    parts = []
    for key, item in value.items():
        if key in HIDDEN_FIELDS or item in (None, "", [], {}):
            continue
        name = label("qualification", key) if known("qualification", key) else label("field", key)
        shown = _yes_no(item == "yes") if isinstance(item, str) and item in ("yes", "no") else value_text(key, item)
        parts.append(f"{name}: {shown}")
    return "; ".join(parts) or "–"


def value_text(field: str, value: Any) -> str:
    """One audited value in words: owner ids as names, codes as labels, dicts as labelled text."""
    if value is None or value == "" or value == []:
        return "–"
    if field in ("owner_id", "user_id"):
        return user_name(value)
    if field == "merged_into_id":
        return _("lead #%(id)s", id=value)
    if field in ("status", "priority"):
        return label(field, value)
    if field in ("phone_status", "email_status"):
        return label("reachability", value)
    if field == "language":
        return LANGUAGES.get(str(value), str(value))
    if field == "dnc_reason":
        return consent_reason(str(value))
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, Mapping):
        return _mapping_text(value)
    if isinstance(value, (list, tuple)):
        kind = "tag" if field == "tags" else None
        return ", ".join(label(kind, v) if kind else value_text(field, v) for v in value)
    return str(value)


def audit_title(action: str) -> str:
    """An audit action in words; the chain's stages by their label; never the raw code."""
    if known("audit", action):
        return label("audit", action)
    if action.startswith("chain."):
        return _("Chain: %(stage)s", stage=label("stage", action[6:]))
    if action.startswith("lead.email_"):
        return _("Email address: %(state)s", state=label("reachability", action[11:]))
    return _("Change recorded")


def audit_lines(
    action: str, changes: Mapping[str, tuple[Any, Any]], after: Mapping[str, Any] | None = None
) -> list[str]:
    """What an audit row says, as labelled lines: each changed field old → new, or its facts."""
    after = after or {}
    lines = [
        f"{label('field', k)}: {value_text(k, old)} → {value_text(k, new)}"
        for k, (old, new) in changes.items()
        if k not in HIDDEN_FIELDS
    ]
    if action == "call.refused" and after.get("reason"):
        line = _("Reason: %(reason)s", reason=_reason(str(after["reason"])))
        if after.get("next_window_start"):
            line += " · " + _("next window %(when)s", when=_moment(str(after["next_window_start"])))
        lines.append(line)
    elif action in ("consent.recorded", "consent.withdrawn"):
        bits = [label("channel", after.get("channel"))]
        if after.get("legal_basis"):
            bits.append(label("basis", after["legal_basis"]))
        if after.get("reason"):
            bits.append(consent_reason(str(after["reason"])))
        lines.append(", ".join(bits))
    elif action == "task.created" and after.get("kind"):
        lines.append(label("task_kind", after["kind"]))
    elif action == "email.refused":
        lines.append(
            _(
                "%(email)s not sent: %(error)s",
                email=label("email_template", after.get("template")),
                error=_reason(str(after.get("reason") or "")),
            )
        )
    elif action in ("appointment.booked",) and after.get("starts_at"):
        lines.append(_("Appointment on %(when)s", when=_moment(str(after["starts_at"]))))
    elif action == "lead.qualification" and isinstance(after.get("qualification"), Mapping) and not changes:
        lines.append(f"{label('field', 'qualification')}: {_mapping_text(after['qualification'])}")
    elif action == "lead.phone_invalid" and after.get("reason"):
        lines.append(_("Reason: %(reason)s", reason=consent_reason(str(after["reason"]))))
    elif action == "lead.assigned_automatically" and after.get("rule"):
        # crm/services/assignment.py: the rule's name as the admin typed it, or the built-in fallback.
        lines.append(
            _("Rule: %(rule)s", rule=str(after["rule"]))
            if after.get("rule_id") is not None
            else _("Rule: %(rule)s", rule=_("round robin over the sales reps"))
        )
    return lines


def register(app) -> None:
    """The functions as Jinja globals under one name: ``shown.label(...)``, ``shown.chain_text(...)``."""
    app.jinja_env.globals["shown"] = types.SimpleNamespace(
        label=label,
        chain_text=chain_text,
        factor_name=factor_name,
        factor_detail=factor_detail,
        consent_proof=consent_proof,
        consent_reason=consent_reason,
        task_title=task_title,
        appointment_title=appointment_title,
        appointment_location=appointment_location,
        duplicate_reason=duplicate_reason,
        email_subject=email_subject,
        actor=actor,
        user_name=user_name,
        audit_title=audit_title,
        audit_lines=audit_lines,
        value_text=value_text,
    )
