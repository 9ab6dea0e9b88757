"""The web app's request log names the route's template, never the path: paths carry case, consent and referral
ids, and a log line with two of them would link what the services keep apart."""

from __future__ import annotations

import logging

import kim_web.__main__ as web_main

from .fakes import FakeServices, client, sign_in


def test_a_page_is_logged_by_its_route_template_not_its_path(caplog):
    with caplog.at_level(logging.DEBUG), client(FakeServices()) as web:
        sign_in(web, "case_manager", team="stadt-unna")
        assert web.get("/faelle/case-1").status_code == 200
        web.get("/faelle/case-unknown-7f3a/nothing-here")
    lines = [r.getMessage() for r in caplog.records if r.name == "kim_web.access"]
    assert "GET /faelle/{case_id} 200" in " ".join(lines), lines
    assert any(line.startswith("GET (no route) 404") for line in lines), lines
    ours = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("kim_web"))
    assert "case-1" not in ours and "case-unknown-7f3a" not in ours


def test_uvicorn_serves_without_its_access_log_and_the_url_loggers_are_quiet(monkeypatch):
    seen = {}
    for name in web_main.QUIET:  # main() sets them for the process: put them back after the test
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    monkeypatch.setattr(web_main.uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    web_main.main()
    assert seen["access_log"] is False
    for name in ("httpx", "httpcore", "uvicorn.access"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING, name
