"""Scoring rules: the YAML ruleset (crm/scoring_rules.yaml's format) validated into `ScoringRules`, with the
offending key named in every error, and the rules file on disk (re-read when it changes)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from flask import current_app, has_app_context

from crm.services.normalize import fold

RULES_ENV = "LEADCHAIN_SCORING_RULES"
POINTS_RANGE = (-100, 100)


class ScoringConfigError(ValueError):
    """A rules file that cannot be used; `key` names the offending entry (dotted path)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


def _frozen(mapping: dict) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ScoringRules:
    version: str
    hot: int
    warm: int
    gate_threshold: int
    source_points: Mapping[str, int] = field(hash=False)
    source_default: int
    completeness: Mapping[str, int] = field(hash=False)  # phone, email, company, full_name
    business_domain: int
    freemail_domain: int
    freemail_domains: frozenset[str]
    phone_consent: int
    email_consent: int
    interest_points: int
    interest_keywords: tuple[str, ...]
    open_points: int
    open_max: int
    click_points: int
    click_max: int
    call_outcomes: Mapping[str, int] = field(hash=False)
    path: str | None = None


class _Section:
    """A YAML mapping being validated: every read names its dotted key; leftovers are refused."""

    def __init__(self, data: Any, key: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ScoringConfigError(key, "must be a mapping")
        self.data, self.key = data, key
        self.seen: set[str] = set()

    def _k(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def raw(self, name: str, required: bool = False) -> Any:
        if name not in self.data:
            if required:
                raise ScoringConfigError(self._k(name), "is required")
            return None
        self.seen.add(name)
        return self.data[name]

    def points(self, name: str, *, required: bool = False, lo: int = POINTS_RANGE[0], hi: int = POINTS_RANGE[1]) -> int:
        value = self.raw(name, required)
        if value is None and not required:
            return 0
        return _int(value, self._k(name), lo, hi)

    def section(self, name: str, required: bool = False) -> _Section:
        return _Section(self.raw(name, required), self._k(name))

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ScoringConfigError(self._k(name), "must be a list of strings")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise ScoringConfigError(f"{self._k(name)}[{i}]", "must be a non-empty string")
            out.append(item.strip().lower())
        return tuple(out)

    def int_table(self, name: str) -> dict[str, int]:
        table = self.section(name)
        out = {}
        for k in list(table.data):
            if not isinstance(k, str) or not k.strip():
                raise ScoringConfigError(table._k(str(k)), "names must be non-empty strings")
            out[k.strip().lower()] = table.points(k)
        return out

    def done(self) -> None:
        extra = [k for k in self.data if k not in self.seen]
        if extra:
            raise ScoringConfigError(self._k(str(extra[0])), "unknown key")


def _int(value: Any, key: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScoringConfigError(key, f"must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ScoringConfigError(key, f"must be between {lo} and {hi}, got {value}")
    return value


def parse_rules(data: Any, path: str | None = None) -> ScoringRules:
    """Validate a parsed YAML document into ScoringRules (ScoringConfigError names the bad key)."""
    if not isinstance(data, dict):
        raise ScoringConfigError("", "a scoring rules file must be a YAML mapping (version, thresholds, ...)")
    top = _Section(data, "")
    version = top.raw("version", required=True)
    if not isinstance(version, str) or not version.strip() or len(version) > 32:
        raise ScoringConfigError("version", 'must be a string of 1 to 32 characters (quote it: "v1")')
    thresholds = top.section("thresholds", required=True)
    hot = thresholds.points("hot", required=True, lo=0, hi=100)
    warm = thresholds.points("warm", required=True, lo=0, hi=100)
    thresholds.done()
    if warm >= hot:
        raise ScoringConfigError("thresholds.warm", f"must be below thresholds.hot ({hot})")
    gate = top.points("gate_threshold", required=True, lo=0, hi=100)

    source = top.section("source")
    source_default = source.points("default")
    source_points = source.int_table("points")
    source.done()

    comp = top.section("completeness")
    completeness = {name: comp.points(name) for name in ("phone", "email", "company", "full_name")}
    comp.done()

    dom = top.section("email_domain")
    business, freemail = dom.points("business"), dom.points("freemail")
    freemail_domains = frozenset(dom.strings("freemail_domains"))
    dom.done()

    consent = top.section("consent")
    phone_consent, email_consent = consent.points("phone_express"), consent.points("email")
    consent.done()

    interest = top.section("interest")
    interest_points = interest.points("points")
    keywords = tuple(fold(k) for k in interest.strings("keywords"))
    interest.done()

    eng = top.section("engagement")
    caps = {}
    for name in ("email_open", "email_click"):
        sec = eng.section(name)
        caps[name] = (sec.points("points", lo=0), sec.points("max_points", lo=0))
        sec.done()
    outcomes = eng.int_table("call_outcomes")
    eng.done()
    top.done()

    return ScoringRules(
        version=version.strip(),
        hot=hot,
        warm=warm,
        gate_threshold=gate,
        source_points=_frozen(source_points),
        source_default=source_default,
        completeness=_frozen(completeness),
        business_domain=business,
        freemail_domain=freemail,
        freemail_domains=freemail_domains,
        phone_consent=phone_consent,
        email_consent=email_consent,
        interest_points=interest_points,
        interest_keywords=keywords,
        open_points=caps["email_open"][0],
        open_max=caps["email_open"][1],
        click_points=caps["email_click"][0],
        click_max=caps["email_click"][1],
        call_outcomes=_frozen(outcomes),
        path=path,
    )


_cache: dict[str, tuple[tuple[int, int], ScoringRules]] = {}


def rules_from_text(text: str, path: str | None = None) -> ScoringRules:
    """Validate the YAML text of a ruleset (a file's, or one an admin stored) into ScoringRules."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = f"scoring rules file {path!r}" if path else "the scoring rules"
        raise ScoringConfigError("", f"{where} is not valid YAML: {e}") from None
    return parse_rules(data, path)


def rules_path(path: str | os.PathLike | None = None) -> Path:
    """The rules file: `path`, else the current app's Settings.chain.scoring_rules
    ($LEADCHAIN_SCORING_RULES), else the shipped default."""
    if path is None and has_app_context():
        path = current_app.config["LEADCHAIN"].chain.scoring_rules
    if path is None:
        return Path(str(resources.files("crm").joinpath("scoring_rules.yaml")))
    return Path(path)


def load_rules(path: str | os.PathLike | None = None) -> ScoringRules:
    """Load and validate a rules file: `path`, else $LEADCHAIN_SCORING_RULES, else the shipped default.

    Re-reads the file when it changed on disk, so an edited ruleset takes effect without a restart.
    """
    target = rules_path(path)
    try:
        stat = target.stat()
    except OSError as e:
        raise ScoringConfigError("", f"scoring rules file {str(target)!r} cannot be read: {e.strerror}") from None
    key, stamp = str(target.resolve()), (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(key)
    if cached and cached[0] == stamp:
        return cached[1]
    rules = rules_from_text(target.read_text(encoding="utf-8"), str(target))
    _cache[key] = (stamp, rules)
    return rules
