"""The partner credential cache (kim_referrals.adapters.credential_cache): one lookup per organisation and TTL, a
new credential in at once, a lookup that raced a rotation never puts the old credential back."""

from __future__ import annotations

import asyncio

from kim_referrals.adapters.credential_cache import PartnerCredentialCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def store(values: dict[str, str | None]):
    calls: list[str] = []

    async def load(org: str) -> str | None:
        calls.append(org)
        return values.get(org)

    return load, calls


async def test_one_lookup_per_organisation_until_the_ttl_passes():
    clock = Clock()
    load, calls = store({"a": "c1", "b": None})
    cache = PartnerCredentialCache(load, ttl_s=5, clock=clock)
    assert [await cache("a"), await cache("a"), await cache("b"), await cache("b")] == ["c1", "c1", None, None]
    assert calls == ["a", "b"]
    clock.now = 5.0
    assert await cache("a") == "c1" and calls == ["a", "b", "a"]


async def test_an_issued_credential_is_current_at_once():
    values = {"a": "c1"}
    load, calls = store(values)
    cache = PartnerCredentialCache(load, ttl_s=60, clock=Clock())
    assert await cache("a") == "c1"
    values["a"] = "c2"
    cache.issued("a", "c2")
    assert await cache("a") == "c2" and calls == ["a"]


async def test_a_lookup_started_before_a_rotation_does_not_put_the_old_credential_back():
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_load(org: str) -> str | None:
        started.set()
        await release.wait()
        return "old"

    cache = PartnerCredentialCache(slow_load, ttl_s=60, clock=Clock())
    lookup = asyncio.create_task(cache("a"))
    await started.wait()
    cache.issued("a", "new")
    release.set()
    assert await lookup == "new"
    assert await cache("a") == "new"


async def test_ttl_zero_looks_up_every_time():
    load, calls = store({"a": "c1"})
    cache = PartnerCredentialCache(load, ttl_s=0, clock=Clock())
    await cache("a")
    await cache("a")
    assert calls == ["a", "a"]
