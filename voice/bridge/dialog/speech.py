"""Streamed text to speakable chunks: one per sentence (or per clause when a sentence runs long), so
the server can send the first chunk while the model is still writing the rest."""

from __future__ import annotations

import re

# A sentence ends at . ! ? followed by a space, except after a number ("19. Dezember") or an
# abbreviation ("z. B.", "Dr.", "ca."); a long run is also cut after a comma or a semicolon.
_END = re.compile(r"[.!?…]+[\"')\]]*\s+|[;:]\s+")
_COMMA = re.compile(r",\s+")
_ABBREVIATIONS = {
    "z",
    "b",
    "dr",
    "hr",
    "fr",
    "ca",
    "bzw",
    "usw",
    "etc",
    "nr",
    "tel",
    "str",
    "mr",
    "mrs",
    "ms",
    "vs",
    "e",
    "g",
    "i",
    "d",
    "h",
    "u",
    "a",
    "st",
    "prof",
    "inkl",
    "ggf",
    "evtl",
    "bspw",
}
GOODBYE = re.compile(
    r"\b(?:auf\s+wiederhören|auf\s+wiedersehen|tschüss|tschüs|ade|goodbye|good\s+bye|bye|au\s+revoir|adieu)\b",
    re.IGNORECASE,
)
LONG_CLAUSE = 120


class SentenceSplitter:
    def __init__(self) -> None:
        self.buffer = ""

    def feed(self, text: str) -> list[str]:
        self.buffer += text or ""
        out: list[str] = []
        while True:
            cut = self._boundary()
            if cut is None:
                break
            piece, self.buffer = self.buffer[:cut], self.buffer[cut:]
            if piece.strip():
                out.append(piece.strip() + " ")
        return out

    def flush(self) -> str | None:
        piece, self.buffer = self.buffer.strip(), ""
        return piece + " " if piece else None

    def _boundary(self) -> int | None:
        for m in _END.finditer(self.buffer):
            if self._sentence_end(m.start()):
                return m.end()
        if len(self.buffer) > LONG_CLAUSE:
            commas = [m for m in _COMMA.finditer(self.buffer) if m.start() >= 20]
            if commas:
                return commas[0].end()
        return None

    def _sentence_end(self, index: int) -> bool:
        if self.buffer[index] != ".":
            return True
        before = self.buffer[:index]
        word = re.search(r"(\S+)$", before)
        if not word:
            return True
        token = word.group(1).lower().strip("(\"'")
        if token[-1:].isdigit():
            return False
        return token.split(".")[-1] not in _ABBREVIATIONS


def split_sentences(text: str) -> list[str]:
    splitter = SentenceSplitter()
    pieces = splitter.feed(text)
    last = splitter.flush()
    return pieces + ([last] if last else [])


def has_goodbye(text: str) -> bool:
    return bool(GOODBYE.search(text or ""))
