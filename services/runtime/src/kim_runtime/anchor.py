"""Signed anchors: a store's history, sealed from outside the database (issue 15).

The hash chain in the `events` table shows an edited row, but whoever can write the table can also recompute the chain
after an edit, or delete a whole stream with its chain. An anchor closes that gap. At a fixed interval (and on demand,
`kim audit anchor`) each service takes the head of every stream in its store, published or not (version and hash
of the last event), folds them into a Merkle root, and signs the root with an Ed25519 key that is not in the database
(KIM_AUDIT_SIGNING_KEY or KIM_AUDIT_SIGNING_KEY_FILE). The anchor names its predecessor's digest, so anchors form a
chain of their own. It goes to the topic kim.audit.anchors and to an append-only file, with the heads that changed
since the previous anchor, so an auditor who holds only the public key can rebuild every stream head an anchor
vouches for and compare it with the store: an edited and re-chained, truncated, deleted or back-dated added stream is
found with its stream, version and the anchor that proves it (`kim audit verify`).

What an anchor cannot see: a change made after the last anchor and before the next one is sealed by the next one
(the interval is the window; the streams that never leave the store are sealed on each append instead: Receipts,
below); the file and the topic must be kept where the database's administrators cannot
rewrite them (a WORM bucket, another team's broker ACLs).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .secret_source import read_secret
from .topics import ANCHOR_TOPIC

log = logging.getLogger(__name__)

HEADS_PER_RECORD = 2000  # ~150 KB a record: well under Kafka's 1 MB default
COMMIT_MARGIN = timedelta(minutes=1)  # a transaction open while the anchor was taken may commit a little later
_LOCK = 0x6B696D_616E6368  # pg_advisory_xact_lock id: one anchor writer per database at a time
_DEV_SEED = hashlib.sha256(b"kim-hub: the public dev-only audit signing key; never for real data").digest()
HOW_TO_GET_ONE = "`kim audit keygen` prints a new one"

Head = tuple[str, int, str]  # stream id, version, hash of its last event (hex)


class AnchorKeyError(ValueError):
    """The audit signing or public key is missing or unreadable."""


# -- the records on the topic and in the file ---------------------------------------------------------------------
class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AnchorBody(_Record):
    """What an anchor vouches for; the signature covers exactly its canonical JSON."""

    service: str = Field(description="The service whose store this anchors")
    store: str = Field(description="The store's own id (made once when its database is set up)")
    seq: int = Field(ge=1, description="1, 2, ... per service")
    created_at: datetime
    streams: int = Field(ge=0, description="Streams in the store")
    events: int = Field(ge=0, description="Events in the store (the sum of the stream heads' versions)")
    root: str = Field(description="Merkle root over every stream head (hex SHA-256; see kim_runtime.anchor)")
    previous: str = Field(description="Digest of the previous anchor's body, '' for the first")
    parts: int = Field(ge=0, description="How many heads records of this seq precede the anchor")
    key_id: str = Field(description="Which key signed it: the first 16 hex digits of SHA-256 of the public key")

    def canonical(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


class AnchorRecord(_Record):
    """A signed anchor of one service's store."""

    kind: Literal["anchor"] = "anchor"
    body: AnchorBody
    signature: str = Field(description="Ed25519 signature of the body's canonical JSON (base64)")


class HeadsRecord(_Record):
    """Stream heads that changed since the service's previous anchor (one of `parts` records before the anchor)."""

    kind: Literal["heads"] = "heads"
    service: str
    store: str
    seq: int = Field(ge=1)
    part: int = Field(ge=0)
    heads: list[tuple[str, int, str]] = Field(description="[stream id, version, hash (hex)] of each changed stream")


class ReceiptBody(_Record):
    """One stream head, sealed at once when the event was appended: a stream that never leaves the store (the access
    log, the audit stream) cannot wait for the next anchor, or its newest events could be deleted and the stream
    re-chained inside the interval."""

    service: str
    store: str
    stream_id: str
    version: int = Field(ge=1)
    hash: str = Field(description="Hash of the stream's event at `version` (hex)")
    created_at: datetime
    key_id: str

    def canonical(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()


class ReceiptRecord(_Record):
    """A signed receipt of one appended event (kind "receipt"), on the anchor topic and in the anchor file."""

    kind: Literal["receipt"] = "receipt"
    body: ReceiptBody
    signature: str = Field(description="Ed25519 signature of the body's canonical JSON (base64)")


AnyRecord = AnchorRecord | HeadsRecord | ReceiptRecord
_RECORD = TypeAdapter(AnyRecord)


def parse_record(raw: bytes | str) -> AnyRecord:
    return _RECORD.validate_json(raw)


# -- the Merkle root ----------------------------------------------------------------------------------------------
def _leaf(head: Head) -> bytes:
    stream_id, version, hash_hex = head
    return hashlib.sha256(b"\x00" + stream_id.encode() + b"\x00" + version.to_bytes(8, "big")
                          + bytes.fromhex(hash_hex)).digest()


def merkle_root(heads: Iterable[Head]) -> str:
    """Leaves are the heads sorted by stream id; a node hashes 0x01 + left + right; an odd last node moves up."""
    level = [_leaf(h) for h in sorted(heads)]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        pairs = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0].hex()


# -- keys ---------------------------------------------------------------------------------------------------------
def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw_public(public)).hexdigest()[:16]


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_text(public: Ed25519PublicKey) -> str:
    return base64.b64encode(_raw_public(public)).decode()


def _decode32(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise AnchorKeyError(f"{where}: expected 32 bytes in base64 (44 characters); {HOW_TO_GET_ONE}")
    return raw


class Signer:
    def __init__(self, private: Ed25519PrivateKey, source: str):
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)
        self.source = source

    @classmethod
    def from_text(cls, text: str, where: str) -> Signer:
        return cls(Ed25519PrivateKey.from_private_bytes(_decode32(text, where)), where)

    @classmethod
    def generate(cls) -> tuple[Signer, str]:
        seed = os.urandom(32)
        return cls(Ed25519PrivateKey.from_private_bytes(seed), "generated"), base64.b64encode(seed).decode()

    def sign_bytes(self, data: bytes) -> str:
        """An Ed25519 signature of `data` (base64), e.g. of an exported file's SHA-256 (kim audit ... --export)."""
        return base64.b64encode(self._private.sign(data)).decode()

    def sign(self, body: AnchorBody) -> AnchorRecord:
        return AnchorRecord(body=body, signature=base64.b64encode(self._private.sign(body.canonical())).decode())

    def receipt(self, body: ReceiptBody) -> ReceiptRecord:
        return ReceiptRecord(body=body, signature=base64.b64encode(self._private.sign(body.canonical())).decode())


DEV_SIGNER_TEXT = base64.b64encode(_DEV_SEED).decode()


def load_signer(*, env: str, key: str | None, key_file: Path | None) -> Signer:
    """The signing key from KIM_AUDIT_SIGNING_KEY or KIM_AUDIT_SIGNING_KEY_FILE; only KIM_ENV=dev may go without
    (then the public dev-only key signs, and says so in the log)."""
    given = read_secret("KIM_AUDIT_SIGNING_KEY", key, key_file, AnchorKeyError)
    if given is not None:
        return Signer.from_text(*given)
    if env == "dev":
        log.warning("KIM_ENV=dev and no KIM_AUDIT_SIGNING_KEY: anchors are signed with the public dev-only key")
        return Signer.from_text(DEV_SIGNER_TEXT, "the dev-only fallback (KIM_ENV=dev)")
    raise AnchorKeyError("no audit signing key: set KIM_AUDIT_SIGNING_KEY or KIM_AUDIT_SIGNING_KEY_FILE; "
                         f"{HOW_TO_GET_ONE}. Only KIM_ENV=dev runs without one.")


def parse_public_keys(text: str, where: str) -> dict[str, Ed25519PublicKey]:
    """Comma- or line-separated base64 public keys, by key id."""
    keys = [Ed25519PublicKey.from_public_bytes(_decode32(t, where)) for t in text.replace(",", "\n").split() if t]
    return {key_id(k): k for k in keys}


# -- writing anchors ----------------------------------------------------------------------------------------------
STORE_ID = "SELECT id FROM audit_store ORDER BY created_at LIMIT 1"
# values for the anchor topic, in order, keyed by service; a receipt's publish may answer False: not published (yet)
Publish = Callable[[Sequence[bytes]], Awaitable[bool | None]]


def seal(service: str, store: str, signer: Signer, heads: Sequence[Head], changed: Sequence[Head], *, seq: int,
         previous: str, created_at: datetime) -> tuple[AnchorBody, list[bytes]]:
    """The anchor over all `heads`, and the records that carry it: the `changed` heads in parts, then the anchor."""
    parts = [list(changed[i:i + HEADS_PER_RECORD]) for i in range(0, len(changed), HEADS_PER_RECORD)]
    body = AnchorBody(service=service, store=store, seq=seq, created_at=created_at, streams=len(heads),
                      events=sum(h[1] for h in heads), root=merkle_root(heads), previous=previous, parts=len(parts),
                      key_id=signer.key_id)
    records = [HeadsRecord(service=service, store=store, seq=seq, part=i, heads=p) for i, p in enumerate(parts)]
    return body, [r.model_dump_json().encode() for r in [*records, signer.sign(body)]]


class Anchorer:
    """Writes one service's anchors: to the topic (through `publish`) and to an append-only file."""

    def __init__(self, pool: asyncpg.Pool, service: str, signer: Signer, publish: Publish,
                 file: Path | None = None, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.pool, self.service, self.signer, self.publish = pool, service, signer, publish
        self.file, self.clock = file, clock

    async def anchor(self, *, force: bool = False) -> AnchorBody | None:
        """Seal the store as it is now; None when nothing changed since the last anchor (unless forced)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            store = str(await conn.fetchval(STORE_ID))
            last = await conn.fetchrow("SELECT seq, digest FROM audit_anchors ORDER BY seq DESC LIMIT 1")
            heads = [(r[0], r[1], r[2]) for r in await conn.fetch(
                "SELECT stream_id, version, encode(last_hash, 'hex') FROM streams WHERE version > 0")]
            sealed = {r[0]: (r[1], r[2]) for r in await conn.fetch(
                "SELECT stream_id, version, encode(hash, 'hex') FROM audit_anchor_heads")}
            changed = sorted(h for h in heads if sealed.get(h[0]) != (h[1], h[2]))
            if last is not None and not changed and not force:
                return None
            body, values = seal(self.service, store, self.signer, heads, changed, seq=(last["seq"] if last else 0) + 1,
                                previous=last["digest"] if last else "", created_at=self.clock())
            await self.publish(values)
            if self.file is not None:
                await asyncio.to_thread(_append_lines, self.file, values)
            await conn.execute("INSERT INTO audit_anchors (seq, digest, created_at, streams, events) "
                               "VALUES ($1, $2, $3, $4, $5)", body.seq, body.digest(), body.created_at, body.streams,
                               body.events)
            await conn.executemany(
                "INSERT INTO audit_anchor_heads (stream_id, version, hash) VALUES ($1, $2, decode($3, 'hex')) "
                "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, hash = excluded.hash", changed)
        log.info("%s: anchor #%d: %d streams, %d events, %d changed heads", self.service, body.seq, body.streams,
                 body.events, len(changed))
        return body


# -- receipts: the streams no anchor may wait for ----------------------------------------------------------------
# The access log (access-<client>) and kim audit's own records (audit-<date>) never leave the store, so before this
# an insider could delete a client's newest read right after it happened and re-chain the stream, unseen until the
# next anchor (KIM_AUDIT_ANCHOR_INTERVAL_S, 300 s) sealed the changed history as if it were the real one. Now every
# append to such a stream is sealed at once: the service signs the stream's new head (stream, version, hash) and
# writes the receipt to the anchor file and the anchor topic before the append returns, i.e. before the read it
# records is answered. `kim audit verify` checks the store against the newest receipt of each stream as it does
# against the anchors' heads: the event must still be there with that hash.
RECEIPTED = ("access-", "audit-")


class ReceiptNotWritten(RuntimeError):
    """No sink took the receipt: the anchor file could not be written, the topic refused it or did not answer in
    time, or (without a file) Kafka was not there yet."""


class Receipts:
    """Writes a signed receipt for each head of a RECEIPTED stream the process appends (kim_runtime.store calls it
    after the append committed). A receipt that cannot be written raises (ReceiptNotWritten or the sink's error):
    the append itself stands and the next anchor seals the stream, but kim_runtime.store answers the request 503
    with Retry-After (errors.NotSealed), so no read is shown unsealed. Every configured sink must take it: the file
    (when KIM_AUDIT_ANCHOR_DIR is set) and the topic within `timeout_s`; `publish` answering False (Kafka not
    ready yet at start) leaves the receipt in the file alone, which counts only when there is a file."""

    prefixes = RECEIPTED

    def __init__(self, pool: asyncpg.Pool, service: str, signer: Signer, publish: Publish | None,
                 file: Path | None = None, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 timeout_s: float = 10.0):
        self.pool, self.service, self.signer, self.publish = pool, service, signer, publish
        self.file, self.clock, self.timeout_s = file, clock, timeout_s
        self._store: str | None = None

    def covers(self, stream_id: str) -> bool:
        return stream_id.startswith(self.prefixes)

    async def issue(self, stream_id: str, version: int, hash_hex: str) -> ReceiptRecord:
        if self._store is None:
            async with self.pool.acquire() as conn:
                self._store = str(await conn.fetchval(STORE_ID))
        record = self.signer.receipt(ReceiptBody(service=self.service, store=self._store, stream_id=stream_id,
                                                 version=version, hash=hash_hex, created_at=self.clock(),
                                                 key_id=self.signer.key_id))
        value = record.model_dump_json().encode()
        written = False
        if self.file is not None:
            await asyncio.to_thread(_append_lines, self.file, [value])
            written = True
        if self.publish is not None:
            try:
                published = await asyncio.wait_for(self.publish([value]), self.timeout_s)
            except TimeoutError:
                raise ReceiptNotWritten(f"the anchor topic took no receipt within {self.timeout_s:g} s") from None
            written = written or published is not False
        if not written:
            raise ReceiptNotWritten(f"no anchor file and no anchor topic took the receipt of {stream_id} v{version}")
        return record


def _append_lines(path: Path, values: Sequence[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, b"".join(v + b"\n" for v in values))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_file(path: Path) -> list[AnyRecord]:
    return [parse_record(line) for line in path.read_bytes().splitlines() if line.strip()]


# -- checking anchors ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnchorFinding:
    kind: str  # edited, missing, truncated, added, anchor
    service: str
    detail: str
    stream_id: str | None = None
    version: int | None = None
    seq: int | None = None

    def line(self) -> str:
        where = f"stream {self.stream_id} version {self.version}: " if self.stream_id is not None else ""
        return f"[{self.kind}] {self.service}: {where}{self.detail}"


@dataclass
class AnchorLog:
    """One service's anchors as read from the topic or the file, checked among themselves."""

    service: str
    store: str
    latest: AnchorBody | None = None
    anchors: int = 0
    other_stores: set[str] = field(default_factory=set)  # ids of other stores of this service with anchors
    heads: dict[str, tuple[int, str, int]] = field(default_factory=dict)  # stream -> (version, hash, anchor seq)
    receipts: dict[str, ReceiptBody] = field(default_factory=dict)  # stream -> its newest valid receipt
    findings: list[AnchorFinding] = field(default_factory=list)


def check_log(service: str, store: str, records: Iterable[AnyRecord],
              trusted: dict[str, Ed25519PublicKey]) -> AnchorLog:
    """Fold the anchors of the service's store in order: each must be signed by a trusted key, follow its predecessor (seq and
    digest), and its heads folded into all earlier ones must give its signed root. A repeated seq (a writer that died
    before it could record its anchor) counts once, the last one read."""
    out = AnchorLog(service, store)
    pending: dict[int, list[HeadsRecord]] = {}
    anchors: dict[int, AnchorRecord] = {}
    for record in records:
        if isinstance(record, ReceiptRecord):
            _take_receipt(out, record, trusted)
        elif isinstance(record, HeadsRecord):
            if (record.service, record.store) == (service, store):
                pending.setdefault(record.seq, []).append(record)
        elif (record.body.service, record.body.store) == (service, store):
            anchors[record.body.seq] = record
        elif record.body.service == service:
            out.other_stores.add(record.body.store)
    previous = ""
    for seq in sorted(anchors):
        record, body = anchors[seq], anchors[seq].body
        problem = _anchor_problem(record, trusted, seq, previous, out.latest)
        parts = {h.part: h for h in pending.get(seq, [])}
        if problem is None and sorted(parts) != list(range(body.parts)):
            problem = f"{body.parts} heads record(s) announced, {len(parts)} found"
        if problem is None:
            folded = dict(out.heads)
            for part in sorted(parts):
                folded |= {s: (v, h, seq) for s, v, h in parts[part].heads}
            if merkle_root((s, v, h) for s, (v, h, _) in folded.items()) != body.root:
                problem = "its heads, folded into the earlier anchors', do not give the signed root"
            else:
                out.heads = folded
        if problem is not None:
            out.findings.append(AnchorFinding("anchor", service, f"anchor #{seq} of {body.created_at:%Y-%m-%d %H:%M:%S}"
                                              f" is not valid: {problem}; later anchors are not trusted", seq=seq))
            break
        out.latest, out.anchors, previous = body, out.anchors + 1, body.digest()
    return out


def _take_receipt(out: AnchorLog, record: ReceiptRecord, trusted: dict[str, Ed25519PublicKey]) -> None:
    body = record.body
    if (body.service, body.store) != (out.service, out.store):
        return
    key = trusted.get(body.key_id)
    problem = None if key is not None else f"signed by key {body.key_id}, which is not a trusted audit key"
    if key is not None:
        try:
            key.verify(base64.b64decode(record.signature), body.canonical())
        except (InvalidSignature, ValueError):
            problem = "the signature does not match (the receipt was changed)"
    if problem is not None:
        out.findings.append(AnchorFinding("anchor", out.service, f"the receipt of {body.created_at:%Y-%m-%d %H:%M:%S} "
                                          f"is not valid: {problem}", body.stream_id, body.version))
        return
    held = out.receipts.get(body.stream_id)
    if held is None or body.version >= held.version:
        out.receipts[body.stream_id] = body


def _anchor_problem(record: AnchorRecord, trusted: dict[str, Ed25519PublicKey], seq: int, previous: str,
                    before: AnchorBody | None) -> str | None:
    body = record.body
    expected = (before.seq + 1) if before else 1
    if seq != expected:
        return f"anchor #{expected} is missing"
    key = trusted.get(body.key_id)
    if key is None:
        return f"signed by key {body.key_id}, which is not a trusted audit key"
    try:
        key.verify(base64.b64decode(record.signature), body.canonical())
    except (InvalidSignature, ValueError):
        return "the signature does not match (the anchor was changed)"
    if body.previous != previous:
        return "it does not name its predecessor (the chain of anchors was cut or rewritten)"
    return None


_STORE_HEADS = """
SELECT a.stream_id, a.version AS anchored, e.version AS found, encode(e.hash, 'hex') AS hash,
       (SELECT max(version) FROM events m WHERE m.stream_id = a.stream_id) AS last
FROM unnest($1::text[], $2::int[]) AS a (stream_id, version)
LEFT JOIN events e ON e.stream_id = a.stream_id AND e.version = a.version
"""
_ADDED = """
SELECT stream_id, min(version) AS first, min(recorded_at) AS since FROM events
WHERE NOT (stream_id = ANY($1::text[])) GROUP BY stream_id HAVING min(recorded_at) <= $2 ORDER BY stream_id
"""


async def compare_store(pool: asyncpg.Pool, log_: AnchorLog) -> list[AnchorFinding]:
    """The store against the heads its latest anchor vouches for: each anchored head must still be there with the
    same hash, and no stream may claim to be older than the anchor without being in it."""
    receipted = await compare_receipts(pool, log_)
    if log_.latest is None:
        if not log_.other_stores:
            return receipted
        return [AnchorFinding("anchor", log_.service, f"no anchor names this store (id {log_.store}), but anchors "
                              f"of {len(log_.other_stores)} other {log_.service} store(s) exist: was the store "
                              "replaced or rebuilt from scratch?"), *receipted]
    names = list(log_.heads)
    latest, service, out = log_.latest, log_.service, receipted
    async with pool.acquire() as conn:
        rows = await conn.fetch(_STORE_HEADS, names, [log_.heads[n][0] for n in names])
        added = await conn.fetch(_ADDED, names, latest.created_at - COMMIT_MARGIN)
    for r in rows:
        version, hash_hex, seq = log_.heads[r["stream_id"]]
        proof = f"anchor #{seq} sealed version {version}"
        if r["last"] is None:
            out.append(AnchorFinding("missing", service, f"the stream is gone from the store; {proof}",
                                     r["stream_id"], version, seq))
        elif r["found"] is None:
            out.append(AnchorFinding("truncated", service, f"the stream ends at version {r['last']}; {proof}",
                                     r["stream_id"], version, seq))
        elif r["hash"] != hash_hex:
            out.append(AnchorFinding("edited", service, f"the event's hash differs from the sealed one (an event up "
                                     f"to here was edited and the chain recomputed); {proof}", r["stream_id"],
                                     version, seq))
    for r in added:
        out.append(AnchorFinding("added", service, f"recorded {r['since']:%Y-%m-%d %H:%M:%S} but in no anchor up to "
                                 f"#{latest.seq} of {latest.created_at:%Y-%m-%d %H:%M:%S}", r["stream_id"],
                                 r["first"], latest.seq))
    return out


async def compare_receipts(pool: asyncpg.Pool, log_: AnchorLog) -> list[AnchorFinding]:
    """The store against each stream's newest receipt that goes beyond what the anchors sealed: the receipted event
    must still be there with the same hash."""
    newer = [b for b in log_.receipts.values() if b.version > log_.heads.get(b.stream_id, (0, "", 0))[0]]
    if not newer:
        return []
    async with pool.acquire() as conn:
        rows = await conn.fetch(_STORE_HEADS, [b.stream_id for b in newer], [b.version for b in newer])
    by_stream = {b.stream_id: b for b in newer}
    out = []
    for r in rows:
        b = by_stream[r["stream_id"]]
        proof = (f"the service's signed receipt of {b.created_at:%Y-%m-%d %H:%M:%S} sealed version {b.version} "
                 f"when it was appended")
        if r["last"] is None:
            out.append(AnchorFinding("missing", log_.service, f"the stream is gone from the store; {proof}",
                                     b.stream_id, b.version))
        elif r["found"] is None:
            out.append(AnchorFinding("truncated", log_.service, f"the stream ends at version {r['last']}; {proof} "
                                     "(its newest events were deleted after they were recorded)", b.stream_id,
                                     b.version))
        elif r["hash"] != b.hash:
            out.append(AnchorFinding("edited", log_.service, f"the event's hash differs from the receipted one (an "
                                     f"event up to here was edited and the chain recomputed); {proof}", b.stream_id,
                                     b.version))
    return out


# -- writer seals: each event signed by the process that appends it ----------------------------------------------
# The hash chain and the anchors prove the history was not rewritten; they cannot tell an event the service wrote
# from one an insider appended through kim_append with the service's own database role (chained and anchored like
# any other). So the service process seals every event it appends: an Ed25519 signature, with the audit signing key
# (held by the process, never by the database), over the event's id, stream, type, schema version, time, metadata
# (the command's authenticated actor among it) and data, stored as metadata["seal"]. `kim audit verify` checks it:
# an event recorded after a store's first sealed one without a valid seal from a trusted key was not written by
# the service ([unsealed]). The limit: whoever holds the service's environment (database credentials and the
# signing key) can still seal a forged event; the seal moves the bar from the database role to the process's secret.
SEAL = "seal"


def _canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_digest(event_id, stream_id: str, type_: str, schema_version: int, occurred_at: datetime, metadata: dict,
                 data) -> bytes:
    """What a seal signs, computed alike from an envelope about to be appended and from its stored row (data and
    metadata as JSON, read back from jsonb: the same values; the time in UTC, to the microsecond)."""
    meta = {k: v for k, v in (metadata or {}).items() if k != SEAL}
    document = [str(event_id), stream_id, type_, int(schema_version), occurred_at.astimezone(UTC).isoformat(),
                json.loads(_canonical_json(meta)), json.loads(_canonical_json(data))]
    return hashlib.sha256(_canonical_json(document).encode()).digest()


def writer_seal(signer: Signer, digest: bytes) -> dict[str, str]:
    return {"key_id": signer.key_id, "signature": signer.sign_bytes(digest)}


def seal_problem(seal, digest: bytes, trusted: dict[str, Ed25519PublicKey]) -> str | None:
    """None when the seal is a trusted key's signature over this digest; else why not."""
    if not isinstance(seal, dict) or not seal.get("signature"):
        return "it carries no writer seal: it was not appended by the service (e.g. kim_append called directly)"
    key = trusted.get(seal.get("key_id", ""))
    if key is None:
        return f"its writer seal is by key {seal.get('key_id')!r}, which is not a trusted audit key"
    try:
        key.verify(base64.b64decode(seal["signature"]), digest)
    except (InvalidSignature, ValueError):
        return "its writer seal does not match its content: forged, or the event was changed after it was sealed"
    return None
