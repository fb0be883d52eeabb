"""SendGrid's mail-send validation in the sandbox (docs/providers.md §4.2), with SendGrid's messages and
fields: one function per rule group, `validate` runs them in SendGrid's order."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
RESERVED_HEADERS = {
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
}
EMAIL_RE = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


def mail_error(message: str, field_name: str | None, help_path: str = "") -> dict[str, Any]:
    return {"message": message, "field": field_name, "help": f"{HELP}{help_path}" if field_name else None}


def validate(payload: Any) -> list[dict[str, Any]]:
    """SendGrid's mail-send validation, the rules docs/providers.md §4.2 lists, with SendGrid's messages."""
    if not isinstance(payload, dict):
        return [mail_error("Bad Request", None)]
    has_template = bool(isinstance(payload.get("template_id"), str) and payload["template_id"])
    return [
        *_sender_errors(payload),
        *_personalization_errors(payload, has_template),
        *_template_errors(payload, has_template),
        *([] if has_template else _content_errors(payload)),
        *_category_errors(payload),
        *_custom_arg_errors(payload),
        *_header_errors(payload),
        *(e for i, a in enumerate(payload.get("attachments") or []) for e in _attachment_errors(i, a)),
        *_asm_errors(payload),
    ]


def _sender_errors(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """from: present, with a valid address."""
    errors: list[dict[str, Any]] = []
    sender = payload.get("from")
    if not isinstance(sender, dict) or not sender.get("email"):
        errors.append(
            mail_error(
                "The from object must be provided for every email send. It is an object that requires "
                "the email parameter, but may also contain a name parameter.",
                "from",
                "#message.from",
            )
        )
    elif not EMAIL_RE.match(str(sender["email"])):
        errors.append(mail_error("The from email does not contain a valid address.", "from.email", "#message.from"))
    return errors


def _personalization_errors(payload: dict[str, Any], has_template: bool) -> list[dict[str, Any]]:
    """personalizations: 1..1000, each with recipients, a subject somewhere and string custom_args."""
    errors: list[dict[str, Any]] = []
    personalizations = payload.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        errors.append(
            mail_error(
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
                "#-Personalizations-Errors",
            )
        )
    elif len(personalizations) > 1000:
        errors.append(
            mail_error(
                "The personalizations field must have 1000 or fewer personalizations.",
                "personalizations",
                "#-Personalizations-Errors",
            )
        )
    else:
        for i, p in enumerate(personalizations):
            to = p.get("to") if isinstance(p, dict) else None
            if not isinstance(to, list) or not to:
                errors.append(
                    mail_error(
                        "The to array is required for all personalization objects, and must have at "
                        "least one email object with a valid email address.",
                        f"personalizations.{i}.to",
                        "#message.personalizations.to",
                    )
                )
                continue
            for j, recipient in enumerate(to):
                if not isinstance(recipient, dict) or not EMAIL_RE.match(str(recipient.get("email") or "")):
                    errors.append(
                        mail_error(
                            "Does not contain a valid address.",
                            f"personalizations.{i}.to.{j}.email",
                            "#message.personalizations.to",
                        )
                    )
            if not payload.get("subject") and not has_template and not (isinstance(p, dict) and p.get("subject")):
                errors.append(
                    mail_error(
                        "The subject is required. You can get around this requirement if you use a "
                        "template with a subject defined or if every personalization has a subject "
                        "defined.",
                        "subject",
                        "#message.subject",
                    )
                )
                break
            for key, value in ((p.get("custom_args") or {}) if isinstance(p, dict) else {}).items():
                if not isinstance(value, str):
                    errors.append(
                        mail_error(
                            f"Invalid type. Expected: string, given: {type(value).__name__}.",
                            f"personalizations.{i}.custom_args.{key}",
                            "#message.custom_args",
                        )
                    )
    return errors


def _template_errors(payload: dict[str, Any], has_template: bool) -> list[dict[str, Any]]:
    """dynamic_template_data needs a dynamic template id (d-...)."""
    errors: list[dict[str, Any]] = []
    personalizations = payload.get("personalizations")
    if (
        has_template
        and not str(payload["template_id"]).startswith("d-")
        and any(isinstance(p, dict) and "dynamic_template_data" in p for p in personalizations or [])
    ):
        errors.append(
            mail_error(
                "The template_id must be a valid dynamic template id (starting with d-).",
                "template_id",
                "#message.template_id",
            )
        )
    return errors


def _content_errors(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """content (required without a template): text/plain first, then text/html; no blank blocks."""
    errors: list[dict[str, Any]] = []
    content = payload.get("content")
    if not isinstance(content, list) or not content:
        errors.append(
            mail_error(
                "Unless a valid template_id is provided, the content parameter is required. There "
                "must be at least one defined content block. We typically suggest both text/plain "
                "and text/html blocks are included, but only one block is required.",
                "content",
                "#message.content",
            )
        )
    else:
        types = [c.get("type") if isinstance(c, dict) else None for c in content]
        if (
            "text/plain" in types
            and types.index("text/plain") != 0
            or ("text/html" in types and "text/plain" in types and types.index("text/html") < types.index("text/plain"))
        ):
            errors.append(
                mail_error(
                    "If present, text/plain content must be first, followed by text/html, followed "
                    "by any other content.",
                    "content",
                    "#message.content",
                )
            )
        for i, c in enumerate(content):
            if not isinstance(c, dict) or not isinstance(c.get("value"), str) or not c["value"]:
                errors.append(
                    mail_error(
                        "The content value must be a string at least one character in length.",
                        f"content.{i}.value",
                        "#message.content.value",
                    )
                )
            if isinstance(c, dict) and not c.get("type"):
                errors.append(
                    mail_error("The content type cannot be blank.", f"content.{i}.type", "#message.content.type")
                )
    return errors


def _category_errors(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """categories: at most 10, each at most 255 characters."""
    errors: list[dict[str, Any]] = []
    categories = payload.get("categories")
    if categories is not None:
        if not isinstance(categories, list) or len(categories) > 10:
            errors.append(
                mail_error(
                    "Too many categories. A maximum of 10 categories is allowed.", "categories", "#message.categories"
                )
            )
        elif any(not isinstance(c, str) or len(c) > 255 for c in categories):
            errors.append(
                mail_error("A category cannot be more than 255 characters.", "categories", "#message.categories")
            )
    return errors


def _custom_arg_errors(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """custom_args: string values only."""
    errors: list[dict[str, Any]] = []
    for key, value in (payload.get("custom_args") or {}).items():
        if not isinstance(value, str):
            errors.append(
                mail_error(
                    f"Invalid type. Expected: string, given: {type(value).__name__}.",
                    f"custom_args.{key}",
                    "#message.custom_args",
                )
            )
    return errors


def _header_errors(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """headers: none of the reserved ones."""
    errors: list[dict[str, Any]] = []
    for name in payload.get("headers") or {}:
        if str(name).lower() in RESERVED_HEADERS:
            errors.append(
                mail_error(
                    f"The '{name}' header is a reserved header and cannot be used in the headers object.",
                    "headers",
                    "#message.headers",
                )
            )
    return errors


def _attachment_errors(i: int, attachment: Any) -> list[dict[str, Any]]:
    """One attachment: base64 content, a filename, inline or attachment."""
    errors: list[dict[str, Any]] = []
    if not isinstance(attachment, dict) or not attachment.get("content"):
        errors.append(
            mail_error(
                "The attachment content is required.", f"attachments.{i}.content", "#message.attachments.content"
            )
        )
        return errors
    try:
        base64.b64decode(attachment["content"], validate=True)
    except (binascii.Error, ValueError):
        errors.append(
            mail_error(
                "The attachment content must be base64 encoded.",
                f"attachments.{i}.content",
                "#message.attachments.content",
            )
        )
    if not attachment.get("filename"):
        errors.append(
            mail_error(
                "The attachment filename parameter is required.",
                f"attachments.{i}.filename",
                "#message.attachments.filename",
            )
        )
    if attachment.get("disposition") not in (None, "attachment", "inline"):
        errors.append(
            mail_error(
                "The disposition must be either 'inline' or 'attachment'.",
                f"attachments.{i}.disposition",
                "#message.attachments.disposition",
            )
        )
    return errors


def _asm_errors(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """asm.group_id: an integer."""
    errors: list[dict[str, Any]] = []
    asm = payload.get("asm")
    if asm is not None and (not isinstance(asm, dict) or not isinstance(asm.get("group_id"), int)):
        errors.append(mail_error("The asm.group_id must be an integer.", "asm.group_id", "#message.asm.group_id"))
    return errors
