"""The bridge's gettext catalogues (crm/locales/<language>/LC_MESSAGES/bridge.po) against the dialog code.

Every phrase key the code asks for (found by reading the code, not from a list kept beside it) has a text in
every language the agent speaks, with the same ``%(name)s`` fields and the same number of variants; the
catalogues carry nothing the code does not know; each ``.po`` compiles and the compiled words are the ones
the dialog speaks. The checker is also run on broken copies of the catalogues, so a missing entry is seen
to fail it."""

from __future__ import annotations

import ast
import copy
import io
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import Translations

from crm import catalogs
from voice.bridge.dialog import phrases, state

ROOT = Path(__file__).resolve().parents[3]
# The modules that say phrases or recognise them by key.
CODE = [
    *sorted((ROOT / "voice" / "bridge" / "dialog").glob("*.py")),
    ROOT / "voice" / "bridge" / "crm_tools.py",
    ROOT / "voice" / "bridge" / "offer_speech.py",
    ROOT / "voice" / "bridge" / "retell.py",
    ROOT / "voice" / "bridge" / "vapi.py",
]
FIELD = re.compile(r"%\((\w+)\)s")
VARIANT = re.compile(r"^(?P<key>\w+?)(?:#(?P<n>\d+))?$")
ASKING = {"say", "variants", "pattern"}  # phrases.say(key, ...), Turn.say(key, ...), ...


def keys_in_code() -> set[str]:
    """String constants in the first argument of say()/variants()/pattern() calls (a conditional or a dict
    there gives all its strings), and the strings compared with a recognised phrase's ``.key``."""
    found: set[str] = set()
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name in ASKING:
                    found |= _strings(node.args[0], dict_keys=False)
            elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == "key":
                for right in node.comparators:
                    found |= _strings(right, dict_keys=True)
    # Keys the state module maps to stages or treats as neutral, and the questions said by name.
    found |= set(state.STAGE_OF_PHRASE) | set(state.QUESTIONS.values()) | set(state._NEUTRAL)
    return found


def _strings(node: ast.AST, *, dict_keys: bool) -> set[str]:
    out = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Dict) and not dict_keys:
            # {Stage.Q_NEED: "q_need", ...}[stage]: the values are the keys said.
            out |= {v.value for v in sub.values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
            return out
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            out.add(sub.value)
    return out


def entries(catalog: Catalog) -> dict[str, list[str]]:
    """key -> its variants' texts in order, from a parsed catalogue (the header and empty texts left out)."""
    numbered: dict[str, dict[int, str]] = {}
    for message in catalog:
        if not message.id or not message.string or message.fuzzy:
            continue
        m = VARIANT.match(str(message.id))
        assert m, f"msgid {message.id!r} is neither a key nor key#n"
        numbered.setdefault(m["key"], {})[int(m["n"] or 1)] = str(message.string)
    return {key: [texts[n] for n in sorted(texts)] for key, texts in numbered.items()}


def problems(by_language: dict[str, Catalog], keys: tuple[str, ...]) -> list[str]:
    """Everything wrong with a set of catalogues, one line each; empty when they are complete."""
    out: list[str] = []
    read = {code: entries(catalog) for code, catalog in by_language.items()}
    reference = read[phrases.LANGUAGES[-1]]
    for code, found in read.items():
        for key in keys:
            if key not in found:
                out.append(f"{code}: no text for {key!r}")
                continue
            numbers = [n for n in _numbers(by_language[code], key)]
            if numbers != list(range(1, len(numbers) + 1)):
                out.append(f"{code}: variants of {key!r} are numbered {numbers}, not 1..n without gaps")
            other = reference.get(key)
            if other is None or code == phrases.LANGUAGES[-1]:
                continue
            if len(found[key]) != len(other):
                out.append(f"{code}: {key!r} has {len(found[key])} variants, {phrases.LANGUAGES[-1]} {len(other)}")
            for number, (mine, theirs) in enumerate(zip(found[key], other, strict=False), start=1):
                if sorted(FIELD.findall(mine)) != sorted(FIELD.findall(theirs)):
                    out.append(f"{code}: {key!r} variant {number} has fields {FIELD.findall(mine)}")
        out.extend(f"{code}: {key!r} is in the catalogue but not in phrases.KEYS" for key in set(found) - set(keys))
    return out


def _numbers(catalog: Catalog, key: str) -> list[int]:
    numbers = []
    for message in catalog:
        m = VARIANT.match(str(message.id)) if message.id else None
        if m and m["key"] == key and message.string:
            numbers.append(int(m["n"] or 1))
    return sorted(numbers)


@pytest.fixture(scope="module")
def shipped() -> dict[str, Catalog]:
    return {code: catalogs.read_catalog(code, phrases.DOMAIN) for code in phrases.LANGUAGES}


def test_every_key_the_code_asks_for_is_a_known_phrase():
    asked = keys_in_code()
    assert len(asked) > 30, "the code scan found almost nothing: has the way phrases are said changed?"
    assert asked - set(phrases.KEYS) == set(), "the code asks for phrases that KEYS does not list"
    assert set(phrases.KEYS) - asked == set(), "KEYS lists phrases that no code says"
    assert all(code in catalogs.LANGUAGES for code in phrases.LANGUAGES)


def test_the_catalogues_are_complete_and_agree(shipped):
    assert problems(shipped, phrases.KEYS) == []


def test_a_missing_entry_a_missing_variant_or_a_changed_field_is_caught(shipped):
    def broken(code: str, change) -> dict[str, Catalog]:
        copies = {c: copy.deepcopy(cat) for c, cat in shipped.items()}
        change(copies[code])
        return copies

    without_goodbye = broken("de", lambda cat: cat.delete("goodbye"))
    assert problems(without_goodbye, phrases.KEYS) == ["de: no text for 'goodbye'"]

    without_variant = broken("en", lambda cat: cat.delete("reminder#2"))
    found = problems(without_variant, phrases.KEYS)
    assert any("reminder" in p and "not 1..n" in p for p in found)
    assert f"en: 'reminder' has 2 variants, {phrases.LANGUAGES[-1]} 3" in found

    def rename_field(cat: Catalog) -> None:
        message = cat["booked"]
        assert message is not None and isinstance(message.string, str)
        message.string = message.string.replace("%(slot)s", "%(time)s")

    assert problems(broken("de", rename_field), phrases.KEYS) == ["de: 'booked' variant 1 has fields ['time']"]
    assert problems(shipped, (*phrases.KEYS, "not_a_phrase")) == [
        f"{code}: no text for 'not_a_phrase'" for code in phrases.LANGUAGES
    ]


def test_a_key_without_text_is_an_error_not_spoken():
    with pytest.raises(KeyError):
        phrases.variants("not_a_phrase", "de")


@pytest.mark.parametrize("code", phrases.LANGUAGES)
def test_each_po_compiles_and_speaks_its_words(code, shipped):
    catalog = shipped[code]
    assert list(catalog.check()) == []  # babel's own checks (format strings among them)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    compiled = Translations(buffer, domain=phrases.DOMAIN)
    for key, texts in entries(catalog).items():
        for number, text in enumerate(texts):
            assert compiled.ugettext(phrases.msgid(key, number)) == text
            assert phrases.variants(key, code)[number] == text
    # The dialog formats with the fields it passes; a template whose fields are all given leaves no "%(".
    for key in phrases.KEYS:
        for number, text in enumerate(phrases.variants(key, code)):
            fields = {name: f"<{name}>" for name in FIELD.findall(text)}
            assert "%(" not in phrases.say(key, code, number, **fields)


# The words of the AI disclosure and the recording notice in each language's opening (a new language adds
# its own here: the test below fails until it does).
DISCLOSURE = {
    "de": ("KI-System", "aufgezeichnet"),
    "en": ("AI system", "recorded"),
    "fr": ("intelligence artificielle", "enregistré"),
}


@pytest.mark.parametrize("code", phrases.LANGUAGES)
def test_every_opening_discloses_the_ai_and_the_recording(code):
    assert set(DISCLOSURE) == set(phrases.LANGUAGES)
    opening = phrases.say("opening", code, company="Leadchain")
    assert all(words in opening for words in DISCLOSURE[code]), opening
    assert phrases.lang(code) == code and phrases.lang(code.upper() + "-CH") == code  # "fr-CH", "FR" pass through
