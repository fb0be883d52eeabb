"""Call recordings, played through the CRM.

GET /leads/<lead_id>/calls/<call_id>/recording streams the provider's recording of one call to a
signed-in user who may see the lead (else 404, as every record of crm.ui.access). Why a proxy:

* the page's Content-Security-Policy allows media from 'self' only, so no provider origin (nor the
  local sandbox's plain-http loopback) has to be allowed;
* the provider's URL (often a signed storage link) never reaches the page, the browser history or
  the logs; it is read from the call's record on every request.

The upstream request is streamed with httpx (nothing is buffered whole) under a timeout. The browser's
Range / If-Range headers are passed on and the provider's 206 / Content-Range / Accept-Ranges passed
back, so the audio element can seek. What comes back is served as audio only (a type that is not
audio becomes application/octet-stream, never HTML on our origin). When the provider fails the user
gets a page: 504 when it does not answer in time, 502 when it errs or cannot be reached, 404 when it
no longer has the recording; never a 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import httpx
import sqlalchemy as sa
from flask import Blueprint, Response, abort, render_template, request

from crm.extensions import db
from crm.models import Interaction, InteractionKind
from crm.ui.access import any_role, lead_or_404

log = logging.getLogger(__name__)
bp = Blueprint("recordings", __name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 15.0  # between two chunks of the provider's answer
CHUNK = 64 * 1024
PASSED_ON = ("Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified")
EXTENSIONS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/ogg": "ogg",
    "audio/webm": "webm",
    "audio/mp4": "m4a",
}
WEB_URL = re.compile(r"^https?://", re.IGNORECASE)


def _recording_url(lead_id: int, call_id: int) -> str:
    """The provider URL of a call of this lead, or 404 (also for a call of another lead: ids are guessable)."""
    url = db.session.scalar(
        sa.select(Interaction.recording_url).where(
            Interaction.id == call_id, Interaction.lead_id == lead_id, Interaction.kind == InteractionKind.CALL
        )
    )
    if not url or not WEB_URL.match(url):
        abort(404)
    return url


def _unavailable(code: int):
    return render_template("ui/leads/recording_unavailable.html", code=code), code


def _audio_type(value: str | None) -> str:
    kind = (value or "").split(";", 1)[0].strip().lower()
    return kind if kind.startswith("audio/") else "application/octet-stream"


@bp.get("/leads/<int:lead_id>/calls/<int:call_id>/recording")
@any_role
def play(lead_id: int, call_id: int):
    lead = lead_or_404(lead_id)
    # The database session ends with the app context, before the body streams: no connection is held
    # for the minutes a recording may take.
    url = _recording_url(lead.id, call_id)
    headers = {name: request.headers[name] for name in ("Range", "If-Range") if name in request.headers}
    client = httpx.Client(timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S), follow_redirects=True)
    try:
        upstream = client.send(client.build_request("GET", url, headers=headers), stream=True)
    except httpx.TimeoutException as e:
        client.close()
        log.warning("recording of call %s: provider timed out (%s)", call_id, type(e).__name__)
        return _unavailable(504)
    except httpx.HTTPError as e:  # refused, reset, TLS, bad URL: no answer to pass on
        client.close()
        log.warning("recording of call %s: provider unreachable (%s)", call_id, type(e).__name__)
        return _unavailable(502)

    def close() -> None:
        upstream.close()
        client.close()

    status = upstream.status_code
    if status not in (200, 206, 416):
        close()
        log.warning("recording of call %s: provider answered %s", call_id, status)
        if status in (404, 410):
            abort(404)
        return _unavailable(502)

    def body() -> Iterator[bytes]:
        try:
            yield from upstream.iter_raw(CHUNK)
        except httpx.HTTPError as e:  # the headers are out: all that is left is to end the body early
            log.warning("recording of call %s: stream broke off (%s)", call_id, type(e).__name__)
        finally:
            close()

    kind = _audio_type(upstream.headers.get("Content-Type"))
    response = Response(body() if status != 416 else b"", status=status, mimetype=kind, direct_passthrough=True)
    if status == 416:
        close()
    else:
        response.call_on_close(close)  # also when the body is never read (HEAD, a client gone at once)
    for name in PASSED_ON:
        if name in upstream.headers and not (name == "Content-Length" and status == 416):
            response.headers[name] = upstream.headers[name]
    if upstream.headers.get("Content-Encoding"):
        # iter_raw passes the bytes as sent: the encoding has to travel with them.
        response.headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
    name = f"call-{call_id}.{EXTENSIONS.get(kind, 'audio')}"
    disposition = "attachment" if request.args.get("download") == "1" else "inline"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
