"""The load generator's HTTP client: HTTP/1.1 keep-alive connections, a fixed number per origin, httptools parsing.

`kim bench latency` first sent through httpx's AsyncClient. Profiled at 100 cmd/s (a task sampler in the bench),
about 200 of its sends waited on httpcore's connection-pool locks while about 4 waited for a server's answer, and
the services answered a probe in a few milliseconds meanwhile: the benchmark, not KIM Hub, was the queue (issue 18).
This client does only what the benchmark needs (JSON in, JSON out, no redirects, no TLS, no cookies) and costs a
fraction of the CPU per request. Its answers look like httpx's as far as the benchmark and `Api` use them, and its
failures are httpx's exceptions, so callers catch what they caught before.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

import httptools
import httpx

IDLE_REUSE_S = 4.0  # uvicorn closes a keep-alive connection idle for 5 s: one idle this long is not reused


class Response:
    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes):
        self.status_code, self.headers, self.content = status_code, headers, content

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        return jsonlib.loads(self.content)


class _Parsed:
    """httptools callbacks: one response at a time."""

    def __init__(self):
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.done = False
        self.parser: httptools.HttpResponseParser | None = None
        self.keep_alive = False

    def on_headers_complete(self) -> None:  # httptools knows keep-alive only while the message is being parsed
        self.keep_alive = self.parser.should_keep_alive()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.last_used = time.monotonic()
        self.reusable = True

    async def exchange(self, request: bytes) -> tuple[Response, bool]:
        """Send one request and read its answer; also says whether any byte of an answer came (a retry is only
        safe when none did and the connection was an old one the server may have closed)."""
        self.writer.write(request)
        parsed = _Parsed()
        parser = parsed.parser = httptools.HttpResponseParser(parsed)
        got = False
        while not parsed.done:
            chunk = await self.reader.read(65536)
            if not chunk:
                self.reusable = False
                raise httpx.RemoteProtocolError("the server closed the connection", request=None) if got else \
                    _Closed()
            got = True
            try:
                parser.feed_data(chunk)
            except httptools.HttpParserError as exc:
                self.reusable = False
                raise httpx.RemoteProtocolError(f"malformed answer: {exc}", request=None) from exc
        self.reusable = parsed.keep_alive
        self.last_used = time.monotonic()
        return Response(parser.get_status_code(), parsed.headers, b"".join(parsed.body)), got

    def close(self) -> None:
        self.reusable = False
        self.writer.close()


class _Closed(Exception):
    """An old keep-alive connection was closed by the server before it answered anything."""


class _Origin:
    def __init__(self, host: str, port: int, limit: int):
        self.host, self.port = host, port
        self.slots = asyncio.Semaphore(limit)
        self.idle: list[_Connection] = []

    async def connection(self) -> tuple[_Connection, bool]:
        while self.idle:
            conn = self.idle.pop()
            if conn.reusable and time.monotonic() - conn.last_used < IDLE_REUSE_S:
                return conn, True
            conn.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer), False

    def give_back(self, conn: _Connection) -> None:
        if conn.reusable:
            self.idle.append(conn)
        else:
            conn.close()


class BenchClient:
    """`request(method, url, json=..., headers=...)` and `post(...)`, as far as httpx.AsyncClient's are used here.

    At most `max_connections` connections per origin (host and port); more concurrent requests wait for one."""

    def __init__(self, *, timeout: float = 30.0, max_connections: int = 200):
        self.timeout, self.max_connections = timeout, max_connections
        self._origins: dict[tuple[str, int], _Origin] = {}

    async def __aenter__(self) -> BenchClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for origin in self._origins.values():
            for conn in origin.idle:
                conn.close()
            origin.idle.clear()

    async def post(self, url: str, *, json=None, headers: Mapping[str, str] | None = None) -> Response:
        return await self.request("POST", url, json=json, headers=headers)

    async def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> Response:
        return await self.request("GET", url, headers=headers)

    async def request(self, method: str, url: str, *, json=None, headers: Mapping[str, str] | None = None
                      ) -> Response:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        body = b"" if json is None else jsonlib.dumps(json, separators=(",", ":")).encode()
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
        if json is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        origin = self._origins.get((host, port))
        if origin is None:
            origin = self._origins[(host, port)] = _Origin(host, port, self.max_connections)
        try:
            async with asyncio.timeout(self.timeout):
                async with origin.slots:
                    return await self._send(origin, request)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(f"no answer within {self.timeout:g} s", request=None) from exc
        except OSError as exc:
            raise httpx.ConnectError(repr(exc), request=None) from exc

    @staticmethod
    async def _send(origin: _Origin, request: bytes) -> Response:
        while True:
            conn, reused = await origin.connection()
            try:
                response, _ = await conn.exchange(request)
            except _Closed:
                conn.close()
                if reused:
                    continue  # the server had closed the idle connection: the request never reached it
                raise httpx.RemoteProtocolError("the server closed the connection without an answer",
                                                request=None) from None
            except BaseException:
                conn.close()  # a timeout or cancellation mid-answer: the connection's state is unknown
                raise
            origin.give_back(conn)
            return response
