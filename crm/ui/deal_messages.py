"""The deal services' errors in the page's language.

crm.services.deal_rules raises DealError(field, English message) for the API; a page says the same in German,
English or French, so each field has its own text here (and a few messages of their own where one field
can fail in ways the user must tell apart)."""

from __future__ import annotations

from collections.abc import Callable

from crm.services.deal_rules import NOTE_MAX, REASON_LABEL_MAX, STAGE_NAME_MAX, TITLE_MAX, DealError
from crm.ui.i18n import _

# A function per field, not a constant: the text is translated in the request's language.
_BY_FIELD: dict[str, Callable[[], str]] = {
    "title": lambda: _("Enter a title of at most %(n)d characters.", n=TITLE_MAX),
    "value_cents": lambda: _("Enter the value as an amount such as 1500 or 1500.50 (not negative)."),
    "currency": lambda: _("Choose a currency."),
    "expected_close_on": lambda: _("Enter the expected close as a date between 2000 and 2999."),
    "note": lambda: _("The note has at most %(n)d characters.", n=NOTE_MAX),
    "stage_id": lambda: _("Choose one of the board's stages."),
    "reason_id": lambda: _("Choose a reason from the list."),
    "owner_id": lambda: _("Choose an active user of the company as the owner."),
    "lead_id": lambda: _("This lead cannot take a deal (it was merged into another)."),
    "appointment_id": lambda: _("This appointment cannot take a deal."),
    "name": lambda: _("Enter a stage name of at most %(n)d characters that no other stage has.", n=STAGE_NAME_MAX),
    "probability": lambda: _("The probability is a whole number from 0 to 100."),
    "label": lambda: _("Enter a reason of at most %(n)d characters that no other reason has.", n=REASON_LABEL_MAX),
    "move_to": lambda: _("Choose another active stage for the open deals of the stage you retire."),
    "ids": lambda: _("The stages changed meanwhile; nothing was changed. Please try again."),
    "stale_days": lambda: _("Enter a whole number of days from 1 to 365."),
    "outcome": lambda: _("The deal is already closed; reopen it first."),
    "deal": lambda: _("The deal is no longer there."),
}
# Messages of one field that need words of their own (matched on the service's English text).
_BY_MESSAGE: dict[str, Callable[[], str]] = {
    "the last stage of the board cannot be retired": lambda: _("The last stage of the board cannot be retired."),
    "this stage is retired": lambda: _("This stage is retired; choose an active one."),
    "this reason is retired": lambda: _("This reason is retired; choose an active one."),
    "a lost deal needs a reason": lambda: _("A lost deal needs a reason: choose one from the list."),
    "the deal is closed": lambda: _("The deal is closed; reopen it before moving it."),
}


def problem(error: DealError) -> str:
    """What went wrong, in the page's language."""
    for start, text in _BY_MESSAGE.items():
        if error.message.startswith(start):
            return text()
    found = _BY_FIELD.get(error.field)
    return found() if found else _("This cannot be done with the deal now.")
