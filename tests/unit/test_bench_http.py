"""The benchmark's own HTTP client (kim_cli.bench_http) against a tiny HTTP/1.1 server on a local socket."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from kim_cli.bench_http import BenchClient


async def _server(close_after: int | None = None):
    """Answers each request with its method, path, body and the connection's request count; closes the connection
    after `close_after` answers (like a server's keep-alive timeout)."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(0)
        me = len(connections) - 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, path, _ = lines[0].split(" ")
                length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length"))
                body = await reader.readexactly(length)
                connections[me] += 1
                answer = json.dumps({"method": method, "path": path, "body": body.decode(), "connection": me,
                                     "n": connections[me]}).encode()
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(answer)).encode() + b"\r\n\r\n" + answer)
                await writer.drain()
                if close_after is not None and connections[me] >= close_after:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], connections


async def test_keeps_the_connection_alive_and_reads_json():
    server, port, connections = await _server()
    async with server, BenchClient(max_connections=1) as client:
        first = await client.post(f"http://127.0.0.1:{port}/clients", json={"a": 1}, headers={"X-T": "1"})
        second = await client.request("POST", f"http://127.0.0.1:{port}/cases?x=1", json={"b": 2})
    assert first.status_code == 201 and first.is_success
    assert first.json() == {"method": "POST", "path": "/clients", "body": '{"a":1}', "connection": 0, "n": 1}
    assert second.json()["path"] == "/cases?x=1" and second.json()["n"] == 2  # the same connection, reused
    assert len(connections) == 1


async def test_an_old_connection_the_server_closed_is_replaced_without_failing_the_request():
    server, port, connections = await _server(close_after=1)
    async with server, BenchClient(max_connections=1) as client:
        first = await client.post(f"http://127.0.0.1:{port}/a", json={})
        await asyncio.sleep(0.05)  # the server has closed it meanwhile
        second = await client.post(f"http://127.0.0.1:{port}/b", json={})
    assert (first.json()["connection"], second.json()["connection"]) == (0, 1)


async def test_limits_connections_per_origin():
    server, port, connections = await _server()
    async with server, BenchClient(max_connections=3) as client:
        answers = await asyncio.gather(*(client.post(f"http://127.0.0.1:{port}/x", json={"i": i}) for i in range(30)))
    assert all(a.status_code == 201 for a in answers)
    assert 1 <= len(connections) <= 3


async def test_failures_are_httpx_errors():
    server, port, _ = await _server()
    server.close()
    await server.wait_closed()
    async with BenchClient() as client:
        with pytest.raises(httpx.HTTPError):
            await client.post(f"http://127.0.0.1:{port}/x", json={})


class _FakeConnection:
    def __init__(self):
        self.executed: list[str] = []

    def get_reset_query(self) -> str:
        return "SELECT pg_advisory_unlock_all();"

    async def execute(self, sql: str) -> None:
        self.executed.append(sql)


async def test_the_pool_resets_only_connections_that_took_session_state():
    from kim_runtime import db

    plain, locked = _FakeConnection(), _FakeConnection()
    db.holds_session_state(locked)
    await db._reset(plain)
    await db._reset(locked)
    await db._reset(locked)  # the mark lasts until the first reset
    assert plain.executed == []
    assert locked.executed == ["SELECT pg_advisory_unlock_all();"]


class _Answer:
    def __init__(self, status: int):
        self.status_code, self.content = status, b"{}"
        self.is_success, self.text = 200 <= status < 300, "{}"

    def json(self):
        return {}


class _Scripted:
    """Answers 409 (consent not there yet) and then 201; remembers the Idempotency-Key of each request."""

    def __init__(self):
        self.keys: list[str] = []

    async def request(self, method, url, *, json=None, headers=None):
        self.keys.append(headers["Idempotency-Key"])
        return _Answer(409 if len(self.keys) == 1 else 201)


async def test_a_settle_retry_after_a_refusal_is_a_new_request_with_a_new_key():
    """A refused referral is recorded and its 409 kept for its key: retrying with that key only replays the 409
    (seen as hundreds of 409s under load in issue 18)."""
    from kim_cli.demo.api import ADMIN, Api

    client = _Scripted()
    await Api({"referrals": "http://x"}, "s" * 40, client).call(ADMIN, "POST", "referrals", "/referrals", {},
                                                                 settle=True)
    assert len(client.keys) == 2 and client.keys[0] != client.keys[1]
