"""Cursor pagination for every list endpoint: `limit` (bounded), an opaque `cursor`, and `Link: <...>; rel="next"`.

A route takes `page: Page = Depends(paged())` and answers `page.answer(items, response)` (a list it loaded whole) or
loads `page.fetch` rows from `page.offset` itself (SQL: `LIMIT page.fetch OFFSET page.offset`) and answers
`page.trim(rows, response)`. The body keeps its shape (the page's items); the next page's address is in the `Link`
header (RFC 8288), absent on the last page. A cursor is opaque to clients: today it encodes the position in the
list's order (each list is ordered by a unique key), and an unreadable one answers 422 (`query.cursor`).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Query, Request, Response

from .problems import refused

MAX_LIMIT = 1000


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        offset = json.loads(raw)["o"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise refused("query.cursor", "not a cursor this service gave out: use the Link header's next URL") from exc
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise refused("query.cursor", "not a cursor this service gave out: use the Link header's next URL")
    return offset


def next_link(request: Request, cursor: str) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"] + [("cursor", cursor)]
    return f'<{request.url.path}?{urlencode(query)}>; rel="next"'


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int
    request: Request

    @property
    def fetch(self) -> int:
        """How many rows to load from `offset`: one more than the page, to know whether another follows."""
        return self.limit + 1

    def trim(self, rows: list, response: Response) -> list:
        """The page of `rows` (loaded from `offset`, at most `fetch`); sets Link when more follow."""
        if len(rows) > self.limit:
            response.headers["Link"] = next_link(self.request, encode_cursor(self.offset + self.limit))
        return list(rows[: self.limit])

    def answer(self, items: list, response: Response) -> list:
        """The page of a whole list."""
        return self.trim(items[self.offset: self.offset + self.fetch], response)


def paged(default: int = 100, maximum: int = MAX_LIMIT):
    async def dependency(request: Request,
                         limit: int = Query(default, ge=1, le=maximum, description=f"Items per page (at most "
                                                                                   f"{maximum})"),
                         cursor: str | None = Query(None, max_length=200, pattern=r"^[A-Za-z0-9_-]+$",
                                                    description="Where the page starts: from the Link header's "
                                                                "rel=\"next\" URL of the page before")) -> Page:
        return Page(limit, decode_cursor(cursor) if cursor else 0, request)

    return dependency
