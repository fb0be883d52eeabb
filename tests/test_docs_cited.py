"""The reference notes the code cites live in this repository (issue 13, item 7: a self-contained repo).

Citation form: ``docs/<name>.md`` optionally followed by section ids, e.g. ``docs/providers.md §3.4``,
``docs/voice-bridge.md §V1/§V3``, ``docs/compliance.md §S3, §S4``. A section id is resolved against the
cited file's headings, which all follow one convention: a Markdown heading whose first word is
``§<id>`` (``## §3.4 Listing calls``, ``#### §V3 Stream partial answers``, ``#### §F12 ...``).

The older citations of notes outside the repository (the upper-case file names, ``../shared/docs``, and
words like ``COMPLIANCE S12``) are mapped onto the new files too, so the mechanical replacement is known
to land on existing headings before it is made; the last test keeps them from coming back.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THIS_FILE = Path(__file__).resolve()
SCANNED_SUFFIXES = (".py", ".md", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".txt", ".sh")
SCANNED_NAMES = ("Makefile", "Dockerfile")
# Directories never scanned: tooling, caches, generated or git-ignored output, test input data.
SKIPPED_DIR_NAMES = {
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    "node_modules",
    "build",
    "dist",
    "var",
    "artifacts",
}
SKIPPED_REL_DIRS = {Path("tests/data")}

# The reference notes that replace the ones outside the repository.
REFERENCE_DOCS = (
    "providers.md",
    "voice-bridge.md",
    "temporal.md",
    "compliance.md",
    "architecture.md",
    "reliability.md",
)

SECTION = r"[A-Z]?\d+(?:\.\d+)*"
CITATION = re.compile(
    r"(?<![\w./-])docs/(?P<name>[a-z0-9][a-z0-9_-]*)\.md"
    rf"(?P<sections>(?:\s*(?:,|/|–|-|and)?\s*§{SECTION})*)"
)
SECTION_REF = re.compile(rf"§({SECTION})")
HEADING = re.compile(rf"^#{{1,6}}[ \t]+§(?P<id>{SECTION})(?=[ \t]|$)", re.M)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)

# Old citation -> new file. Sections: `§3.4`, `1.8`, `section 3`, `V3`, `S12`, separated by `,` or `/`.
LEGACY_FILES = {
    "PROVIDERS": "providers.md",
    "VOICE_BRIDGE": "voice-bridge.md",
    "TEMPORAL": "temporal.md",
    "COMPLIANCE": "compliance.md",
    "ARCHITECTURE": "architecture.md",
    "RELIABILITY": "reliability.md",
}
LEGACY_ID = r"(?:§|section\s+)?(?:[VSPF]\d+|\d+(?:\.\d+)*)\b"
LEGACY_FILE_CITATION = re.compile(
    r"\b(?P<file>PROVIDERS|VOICE_BRIDGE|TEMPORAL|COMPLIANCE|ARCHITECTURE|RELIABILITY)\.md"
    rf"(?P<sections>(?:(?:\s*[,/]\s*|[ \t]+){LEGACY_ID})*)"
)
LEGACY_WORD_CITATION = re.compile(
    r"\b(?P<file>COMPLIANCE|Compliance|RELIABILITY|Reliability)(?!\.md)"
    r"(?P<sections>(?:(?:\s*,\s*|[ \t]+)[SPF]\d+\b)+)"
)
LEGACY_SECTION_REF = re.compile(r"(?:§|section\s+)?([VSPF]\d+|\d+(?:\.\d+)*)")
# What must be gone once every citation points into docs/.
OUTSIDE_REFERENCE = re.compile(
    r"shared/docs|\b(?:PROVIDERS|VOICE_BRIDGE|TEMPORAL|COMPLIANCE|ARCHITECTURE|"
    r"RELIABILITY)\.md\b"
)


@dataclass(frozen=True)
class Citation:
    where: str  # "path:line" of the citing text
    doc: str  # file name inside docs/
    section: str | None  # the section id without "§", or None for the file as a whole

    def __str__(self) -> str:
        cited = f"docs/{self.doc}" + (f" §{self.section}" if self.section else "")
        return f"{self.where}: {cited}"


def scanned_files(root: Path, *, skip_docs: bool = False) -> list[Path]:
    """Text files of the repository that may cite notes (never .venv, tests/data or this checker)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SKIPPED_DIR_NAMES
            and not d.endswith(".egg-info")
            and rel_dir / d not in SKIPPED_REL_DIRS
            and not (skip_docs and rel_dir == Path(".") and d == "docs")
        )
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if (name.endswith(SCANNED_SUFFIXES) or name in SCANNED_NAMES) and path.resolve() != THIS_FILE:
                found.append(path)
    return found


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _where(root: Path, path: Path, text: str, offset: int) -> str:
    return f"{path.relative_to(root)}:{text.count(chr(10), 0, offset) + 1}"


def citations(root: Path) -> list[Citation]:
    """Every `docs/<name>.md [§id ...]` citation, one entry per cited section (or per bare file)."""
    found = []
    for path in scanned_files(root):
        text = _read(path)
        for match in CITATION.finditer(text):
            where = _where(root, path, text, match.start())
            doc = match["name"] + ".md"
            sections = SECTION_REF.findall(match["sections"])
            found += [Citation(where, doc, s) for s in sections] or [Citation(where, doc, None)]
    return found


def legacy_citations(root: Path) -> list[Citation]:
    """The old citations (`PROVIDERS.md §3.4`, `VOICE_BRIDGE.md V1/V3`, `COMPLIANCE S12`), mapped onto
    the docs/ file and section they are to be replaced with."""
    found = []
    for path in scanned_files(root, skip_docs=True):
        text = _read(path)
        for pattern in (LEGACY_FILE_CITATION, LEGACY_WORD_CITATION):
            for match in pattern.finditer(text):
                where = _where(root, path, text, match.start())
                doc = LEGACY_FILES[match["file"].upper()]
                sections = LEGACY_SECTION_REF.findall(match["sections"])
                found += [Citation(where, doc, s) for s in sections] or [Citation(where, doc, None)]
    return found


def heading_ids(doc: Path) -> list[str]:
    """Section ids of a note's headings (`## §3.4 ...` -> "3.4"), code blocks left out."""
    return [m["id"] for m in HEADING.finditer(FENCE.sub("", _read(doc)))]


def unresolved(cited: list[Citation], docs_dir: Path) -> list[str]:
    problems = []
    for citation in cited:
        doc = docs_dir / citation.doc
        if not doc.is_file():
            problems.append(f"{citation}: no such file in docs/")
        elif citation.section is not None and citation.section not in heading_ids(doc):
            problems.append(f"{citation}: no heading `§{citation.section}` in docs/{citation.doc}")
    return problems


# ---- the checker itself ------------------------------------------------------------------------------


def test_checker_reports_missing_files_and_sections_and_ignores_skipped_trees(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text(
        "> summary\n## §1 One\n### §1.2 One two\n#### §V3 Vee\n```\n## §9 in a code block\n```\n"
        "Text mentioning §4 outside a heading.\n",
        encoding="utf-8",
    )
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(
        '"""See docs/notes.md §1.2 and docs/notes.md §V3/§4.\n'
        'Also docs/notes.md §1, §9 and docs/gone.md; docs/notes.md alone is fine."""\n',
        encoding="utf-8",
    )
    for skipped in (".venv/lib", "tests/data", "pkg.egg-info"):
        (tmp_path / skipped).mkdir(parents=True)
        (tmp_path / skipped / "x.md").write_text("docs/nowhere.md §7\n", encoding="utf-8")

    cited = citations(tmp_path)
    assert [str(c) for c in cited] == [
        "pkg/mod.py:1: docs/notes.md §1.2",
        "pkg/mod.py:1: docs/notes.md §V3",
        "pkg/mod.py:1: docs/notes.md §4",
        "pkg/mod.py:2: docs/notes.md §1",
        "pkg/mod.py:2: docs/notes.md §9",
        "pkg/mod.py:2: docs/gone.md",
        "pkg/mod.py:2: docs/notes.md",
    ]
    assert unresolved(cited, tmp_path / "docs") == [
        "pkg/mod.py:1: docs/notes.md §4: no heading `§4` in docs/notes.md",
        "pkg/mod.py:2: docs/notes.md §9: no heading `§9` in docs/notes.md",
        "pkg/mod.py:2: docs/gone.md: no such file in docs/",
    ]


def test_checker_maps_every_legacy_citation_form(tmp_path):
    (tmp_path / "mod.py").write_text(
        "# PROVIDERS.md §1.5, §1.6 and PROVIDERS.md 2.3/2.4; PROVIDERS.md per provider\n"
        "# VOICE_BRIDGE.md V1, V3 and docs/TEMPORAL.md section 3. COMPLIANCE S3, S4 and Reliability F12\n",
        encoding="utf-8",
    )
    assert [str(c) for c in legacy_citations(tmp_path)] == [
        "mod.py:1: docs/providers.md §1.5",
        "mod.py:1: docs/providers.md §1.6",
        "mod.py:1: docs/providers.md §2.3",
        "mod.py:1: docs/providers.md §2.4",
        "mod.py:1: docs/providers.md",
        "mod.py:2: docs/voice-bridge.md §V1",
        "mod.py:2: docs/voice-bridge.md §V3",
        "mod.py:2: docs/temporal.md §3",
        "mod.py:2: docs/compliance.md §S3",
        "mod.py:2: docs/compliance.md §S4",
        "mod.py:2: docs/reliability.md §F12",
    ]


# ---- the repository ----------------------------------------------------------------------------------


def test_every_cited_doc_and_section_exists():
    cited = citations(ROOT)
    assert any(c.doc in REFERENCE_DOCS for c in cited), "the reference notes cite each other at least"
    assert unresolved(cited, ROOT / "docs") == []


def test_legacy_citations_land_on_existing_sections():
    """Replacing `PROVIDERS.md §3.4` by `docs/providers.md §3.4` (and so on) cannot produce a dangling
    citation. Vacuous once the replacement is done: test_every_cited_doc_and_section_exists takes over."""
    assert unresolved(legacy_citations(ROOT), ROOT / "docs") == []


@pytest.mark.parametrize("name", REFERENCE_DOCS)
def test_reference_doc_says_what_it_is_and_has_unique_section_ids(name):
    doc = ROOT / "docs" / name
    first_line = _read(doc).splitlines()[0]
    assert first_line.startswith("> leadchain's own summary") and "kept in the repository" in first_line
    ids = heading_ids(doc)
    assert ids, f"docs/{name} has no `§` section headings"
    assert len(ids) == len(set(ids)), f"docs/{name} repeats a section id: {sorted(i for i in ids if ids.count(i) > 1)}"


def test_no_citation_points_outside_the_repo():
    offenders = []
    for path in scanned_files(ROOT, skip_docs=True):
        text = _read(path)
        offenders += [f"{_where(ROOT, path, text, m.start())}: {m.group()}" for m in OUTSIDE_REFERENCE.finditer(text)]
    assert offenders == []
