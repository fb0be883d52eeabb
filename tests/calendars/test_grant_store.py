"""The rotated OAuth grant reaches a real OpenBao (KV v2): `VaultSecrets.put` replaces one key of a group,
keeps the others, creates a group that does not exist yet, and the next read sees the new value (the cached
group is dropped). The environment store takes it only in a mutable mapping."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from crm.secrets import EnvSecrets, SecretsError, VaultSecrets


def test_vault_put_replaces_one_key_and_the_next_read_sees_it(openbao):
    openbao.client().secrets.kv.v2.create_or_update_secret(
        path="leadchain/companies/1/calendars/7",
        secret={"password": "old", "webhook-secret": "w"},
        mount_point="secret",
    )
    store = VaultSecrets(openbao.url, openbao.root_token, ttl_s=60)
    assert store.get("companies/1/calendars/7/password") == "old"
    store.put("companies/1/calendars/7/password", "rotated")
    assert store.get("companies/1/calendars/7/password") == "rotated"
    assert store.get("companies/1/calendars/7/webhook-secret") == "w"
    store.put("companies/1/calendars/8/password", "first")
    assert store.get("companies/1/calendars/8/password") == "first"


def test_a_store_that_cannot_write_says_so():
    with pytest.raises(SecretsError):
        EnvSecrets(MappingProxyType({})).put("companies/1/calendars/9/password", "x")
    writable: dict[str, str] = {}
    EnvSecrets(writable).put("companies/1/calendars/9/password", "x")
    assert writable == {"LEADCHAIN_SECRET_COMPANIES_1_CALENDARS_9_PASSWORD": "x"}
