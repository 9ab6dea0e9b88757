"""No URL with an id reaches a service's log: the service-to-service calls (referrals → cases for the consented
person, reporting → cases for a client's sealing key) go through httpx, whose INFO logger writes each request's full
URL and whose httpcore traces each request at DEBUG. kim_runtime.logs.configure, as kim_runtime.service.run calls it,
holds both at WARNING; this runs the real clients over a mock transport with logging configured that way."""

from __future__ import annotations

import asyncio
import base64
import logging

import httpx
import pytest
from kim_referrals.adapters.cases_client import CasesClient
from kim_reporting.adapters.sealing_keys import SealingKeys
from kim_runtime import logs

SECRET = "x" * 40
CASE, CONSENT, REFERRAL, CLIENT = "case-7f3a91", "consent-2b8c44", "referral-9d1e07", "client-5a6f28"
IDS = (CASE, CONSENT, REFERRAL, CLIENT, "jobcenter-kreis-unna")


def _answer(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/sealing-key"):
        return httpx.Response(200, json={"sealing_key": base64.b64encode(b"k" * 32).decode()})
    if request.url.path.endswith("/consented-person"):
        return httpx.Response(200, json={"given_name": "A"})
    return httpx.Response(500)


@pytest.fixture
def configured(capsys):
    """The process's logging as a service configures it (root handler on stderr), restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level,
             {n: logging.getLogger(n).level for n in (*logs.QUIET, "uvicorn", "uvicorn.error")})

    def configure(level: str) -> None:
        logs.configure("referrals", level=level, fmt="json")

    yield configure
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


async def _calls(transport: httpx.AsyncBaseTransport) -> None:
    cases = CasesClient("http://cases.internal:8001", SECRET, transport=transport)
    person = await cases.consented_person(case_id=CASE, consent_id=CONSENT, recipient="jobcenter-kreis-unna",
                                          purpose="arbeitsvermittlung", categories=["kontakt"], reference=REFERRAL,
                                          correlation_id="corr-1")
    assert person == {"given_name": "A"}
    keys = SealingKeys("http://cases.internal:8001", SECRET, transport=transport)
    assert await keys(CLIENT) == b"k" * 32


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_no_url_with_an_id_reaches_the_log(configured, capsys, level):
    configured(level)
    logging.getLogger("kim_referrals.probe").warning("the handler writes")  # the capture itself works
    asyncio.run(_calls(httpx.MockTransport(_answer)))
    err = capsys.readouterr().err
    assert "the handler writes" in err
    leaked = [i for i in IDS if i in err]
    assert leaked == [], f"ids in the log at {level}: {leaked}\n{err}"
    assert "/internal/" not in err


def test_without_the_runtimes_setting_httpx_would_write_them(configured, capsys):
    """The control: the same calls with httpx's logger left at the root's level write the URL (so the test above
    would see it)."""
    configured("INFO")
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    asyncio.run(_calls(httpx.MockTransport(_answer)))
    err = capsys.readouterr().err
    assert CASE in err and REFERRAL in err and CLIENT in err
