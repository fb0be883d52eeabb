"""The test processes' memo of werkzeug's URL builders (tests/werkzeug_builder_cache.py) builds exactly the
URLs werkzeug's own builders build, for every rule of the app, with and without query arguments."""

from __future__ import annotations

from werkzeug.routing import AnyConverter, IntegerConverter, PathConverter

from crm import create_app
from tests import werkzeug_builder_cache
from tests.conftest import make_test_secrets


def _sample(converter: object) -> object:
    if isinstance(converter, IntegerConverter):
        return 42
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)[0]
    if isinstance(converter, PathConverter):
        return "a b/ü?.pdf"
    return "a b ü%?"


def test_the_memo_is_installed_and_builds_what_werkzeug_builds():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}, secrets=make_test_secrets())
    # A second app: its rules take the first app's compiled builders from the memo.
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}, secrets=make_test_secrets())
    assert werkzeug_builder_cache._BUILDERS, "the memo is not installed in the test processes"
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 50
    for rule in rules:
        values = {name: _sample(conv) for name, conv in rule._converters.items()}
        for append_unknown, extra in ((False, {}), (True, {}), (True, {"q": "x y", "n": [1, 2]})):
            fresh = werkzeug_builder_cache._ORIGINAL(rule, append_unknown).__get__(rule, None)
            memo = werkzeug_builder_cache._memo_compile_builder(rule, append_unknown).__get__(rule, None)
            args = {**values, **extra}
            assert memo(**args) == fresh(**args), (rule.rule, append_unknown, extra)
