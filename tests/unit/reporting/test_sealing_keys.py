"""The reporting service's sealing keys: asked once per client with its own service token, 410 = erased (skipped),
anything else an outage the consumer retries (never a dead letter)."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
from kim_runtime.auth import decode_token

from kim_reporting.adapters.sealing_keys import CasesUnreachable, SealingKeys

SECRET = "a-secret-of-at-least-thirty-two-bytes-0123"
KEY = bytes(range(32))


def _keys(answers: dict[str, int]) -> tuple[SealingKeys, list[httpx.Request]]:
    asked: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        client = request.url.path.split("/")[3]
        status = answers.get(client, 403)
        body = {"client_id": client, "key_id": "k", "sealing_key": base64.b64encode(KEY).decode()}
        return httpx.Response(status, json=body if status == 200 else {"detail": "no"})

    return SealingKeys("http://cases", SECRET, httpx.MockTransport(answer)), asked


def test_a_key_is_asked_once_with_the_reporting_token_and_an_erased_client_is_remembered():
    keys, asked = _keys({"c1": 200, "gone": 410})
    assert asyncio.run(keys("c1")) == KEY and asyncio.run(keys("c1")) == KEY
    assert asyncio.run(keys("gone")) is None and asyncio.run(keys("gone")) is None
    assert [r.url.path for r in asked] == ["/internal/clients/c1/sealing-key", "/internal/clients/gone/sealing-key"]
    principal = decode_token(SECRET, asked[0].headers["Authorization"].removeprefix("Bearer "))
    assert (principal.sub, principal.role.value) == ("kim-reporting", "service")


def test_an_erasure_drops_the_key_and_it_is_never_asked_for_again():
    keys, asked = _keys({"c1": 200})
    asyncio.run(keys("c1"))
    keys.forget("c1")
    assert asyncio.run(keys("c1")) is None and len(asked) == 1


@pytest.mark.parametrize("status", [403, 500, 503])
def test_any_other_answer_is_an_outage_the_consumer_retries(status):
    keys, _ = _keys({"c1": status})
    with pytest.raises(CasesUnreachable) as raised:
        asyncio.run(keys("c1"))
    assert isinstance(raised.value, OSError)  # kim_runtime.consumer retries OSErrors, never dead-letters them
    assert "c1" not in str(raised.value)  # the retry logs the message: no client id in it
