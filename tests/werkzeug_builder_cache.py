"""A memo of werkzeug's URL builders, for the test processes only.

Every test builds its own app (tests/conftest.py `app`), and most of create_app's time went into werkzeug
generating and compiling two builder functions per URL rule with `ast` and `compile()`: about 60 % of a
create_app, and create_app was about a third of the in-process CPU of tests/crm (219 apps, 21.6 of 59.6 CPU
seconds). The builder is a pure function of the rule's parsed trace, its defaults and `append_unknown`:
it reaches converters and query encoding through its `.self` argument, never through a closure. So the
function compiled for one app's rule serves the same rule of every later app, bound to that rule.

Production builds one app per process and is not touched. tests/test_werkzeug_builder_cache.py checks that
every rule of the app builds the same URLs with and without the memo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule

_ORIGINAL = Rule._compile_builder
_BUILDERS: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}


def _key(rule: Rule, append_unknown: bool) -> tuple[Any, ...]:
    defaults = tuple(sorted((str(k), type(v).__name__, repr(v)) for k, v in (rule.defaults or {}).items()))
    return (rule.rule, tuple(rule._trace), append_unknown, defaults)


def _memo_compile_builder(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    key = _key(self, append_unknown)
    builder = _BUILDERS.get(key)
    if builder is None:
        builder = _BUILDERS[key] = _ORIGINAL(self, append_unknown)
    return builder


def install() -> None:
    Rule._compile_builder = _memo_compile_builder  # type: ignore[method-assign]


def uninstall() -> None:
    Rule._compile_builder = _ORIGINAL  # type: ignore[method-assign]
