"""The tenancy tests enter their own scopes: every test here is marked `tenancy` (no default company scope
around it, no TESTING fallback company in its app; tests/conftest.py)."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.tenancy)
