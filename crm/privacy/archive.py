"""The export archive: one zip with data.json, a PDF per language, each call's transcript as text and each
call's recording as the provider serves it.

Recordings are fetched from the URL the provider gave for the call (a signed storage link, or the sandbox's
loopback URL in tests), under a timeout; one that cannot be fetched is listed in MISSING.txt with the reason
instead of failing the whole export (the provider may already have deleted it under its own retention)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import httpx

from crm.privacy import export_data, export_pdf

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_RECORDING_BYTES = 200 * 1024 * 1024
EXTENSIONS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/ogg": "ogg", "audio/mp4": "m4a"}


def _fetch(url: str) -> tuple[bytes, str]:
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        answer = client.get(url)
    if answer.status_code != 200:
        raise OSError(f"HTTP {answer.status_code}")
    if len(answer.content) > MAX_RECORDING_BYTES:
        raise OSError("recording larger than 200 MB")
    kind = answer.headers.get("content-type", "").split(";")[0].strip().lower()
    return answer.content, EXTENSIONS.get(kind, "bin")


def build(data: dict[str, Any], recordings: list[tuple[int, str, str]]) -> bytes:
    """The zip's bytes. `recordings`: (interaction id, provider, URL) from export_data.recordings."""
    buffer = io.BytesIO()
    missing: list[str] = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))
        for language in export_pdf.LANGUAGES:
            archive.writestr(f"personal-data-{language}.pdf", export_pdf.render(data, language))
        for call_id, text in export_data.transcripts(data).items():
            archive.writestr(f"transcripts/call-{call_id}.txt", text)
        for call_id, provider, url in recordings:
            try:
                content, extension = _fetch(url)
            except (OSError, httpx.HTTPError) as e:
                missing.append(f"call {call_id} ({provider}): recording not available: {type(e).__name__} {e}")
                continue
            # Stored, not deflated: audio does not compress, and deflating megabytes of it only costs CPU.
            archive.writestr(f"recordings/call-{call_id}.{extension}", content, compress_type=zipfile.ZIP_STORED)
        if missing:
            archive.writestr("MISSING.txt", "\n".join(missing) + "\n")
    return buffer.getvalue()
