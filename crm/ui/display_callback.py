"""The chain's lines about a callback the caller asked for at a stated time, in the page's language.

``workflows/chain_policies.callback_plan`` writes them in English with UTC times ("callback requested for
2027-02-20 23:00 UTC to 2027-02-28 23:00 UTC", "callback window more than 180 days away: the usual
callback"); crm/ui/display.py's rule table hands them here. The times are shown in the user's zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask_babel import format_datetime

from crm.ui.i18n import _, ngettext

PATTERN = r"callback (?:requested|window) .+"

_UTC = r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC"


def _at(text: str) -> str:
    return format_datetime(datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=UTC), "short")


def callback_text(detail: str) -> str:
    """One of callback_plan's lines in words; a line it does not know is shown as written."""
    if m := re.fullmatch(rf"callback requested for {_UTC} to {_UTC}", detail):
        return _("Callback requested for %(start)s – %(end)s", start=_at(m[1]), end=_at(m[2]))
    if m := re.fullmatch(rf"callback requested from {_UTC}", detail):
        return _("Callback requested from %(start)s on", start=_at(m[1]))
    if m := re.fullmatch(rf"callback window ended {_UTC}: the usual callback", detail):
        return _("The callback window ended %(when)s: callback task as usual", when=_at(m[1]))
    if m := re.fullmatch(r"callback window more than (\d+) days away: the usual callback", detail):
        days = ngettext("%(num)d day", "%(num)d days", int(m[1]))
        return _("The callback window is more than %(days)s away: callback task as usual", days=days)
    return detail
