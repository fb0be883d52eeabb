"""A company's provider registry builds each provider when it is first asked for (providers.factory.LazyRegistry):
which providers there are is decided up front, but building Retell's imports its SDK (seconds in a fresh web
process), and a Bland request, which Bland waits only 5 s for, must not pay for it."""

from __future__ import annotations

from crm.secrets import EnvSecrets
from providers.bland import BlandProvider
from providers.factory import build_registry
from providers.settings import ProviderSettings


def test_each_provider_is_built_at_its_first_get_and_once():
    found = build_registry(settings=ProviderSettings(sandbox_url="http://127.0.0.1:9"), secrets=EnvSecrets({}))
    assert found.providers == {}  # nothing built yet
    bland = found.get("bland")
    assert isinstance(bland, BlandProvider) and found.get("bland") is bland
    assert set(found.providers) == {"bland"}
    assert found.default == "retell" and found.for_lead(1) is found.get("retell")  # the first available
    assert set(found.providers) == {"bland", "retell"}


def test_a_provider_without_an_account_is_not_there_at_all():
    found = build_registry(settings=ProviderSettings(), secrets=EnvSecrets({}))  # no keys, no sandbox
    assert found.get("bland") is None and found.for_lead(1) is None and found.providers == {}
