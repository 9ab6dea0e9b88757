"""What someone holding a copy of kim_cases can do with it: every row of every table, and an attempt to decrypt.

The attacker tries every 32 bytes found anywhere in the dump (every window of every bytea value, of every base64
or hex run in any text) as the AES key of every encrypted field; with a KEK in hand they also unwrap each
client_keys row. The test asserts on the names this recovers, so a dump that leaks a key in any form fails it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kim_cases.adapters import crypto

KEY = 32
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{64,}")


async def dump(url: str) -> dict[str, list[dict]]:
    """{schema.table: rows} of every table in the database (no type codecs: jsonb arrives as its text)."""
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch("SELECT table_schema, table_name FROM information_schema.tables "
                                  "WHERE table_type = 'BASE TABLE' "
                                  "AND table_schema NOT IN ('pg_catalog', 'information_schema')")
        return {f"{t['table_schema']}.{t['table_name']}": [dict(r) for r in await conn.fetch(
            f'SELECT * FROM "{t["table_schema"]}"."{t["table_name"]}"')] for t in tables}
    finally:
        await conn.close()


def _blobs(value) -> list[bytes]:
    """Byte strings a value holds: itself (bytea), or whatever base64/hex runs in its text decode to."""
    if isinstance(value, bytes | bytearray | memoryview):
        return [bytes(value)]
    if not isinstance(value, str):
        return []
    out = []
    for run in _HEX_RUN.findall(value):
        out.append(binascii.unhexlify(run[: len(run) // 2 * 2]))
    for run in _B64_RUN.findall(value):
        for alphabet in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                out.append(alphabet(run + "=" * (-len(run) % 4)))
            except (binascii.Error, ValueError):
                pass
    return out


def candidate_keys(tables: dict[str, list[dict]]) -> set[bytes]:
    keys = set()
    for rows in tables.values():
        for row in rows:
            for value in row.values():
                for blob in _blobs(value):
                    keys.update(blob[i:i + KEY] for i in range(len(blob) - KEY + 1))
    return keys


def encrypted_fields(tables: dict[str, list[dict]]) -> list[tuple[str, dict]]:
    """(client id the field is bound to, the encrypted value) for every encrypted value in the event store."""
    found = []

    def walk(node, subject):
        if isinstance(node, dict):
            if {"key_id", "nonce", "ciphertext"} <= node.keys():
                found.append((subject, node))
            for v in node.values():
                walk(v, subject)
        elif isinstance(node, list):
            for v in node:
                walk(v, subject)

    for event in tables["public.events"]:
        walk(json.loads(event["data"]), json.loads(event["metadata"]).get("subject"))
    return found


def _open(key: bytes, client_id: str, field: dict) -> str | None:
    try:
        plain = AESGCM(key).decrypt(base64.b64decode(field["nonce"]), base64.b64decode(field["ciphertext"]),
                                    client_id.encode())
    except InvalidTag:
        return None
    return plain.decode()


def decrypt_without_kek(tables: dict[str, list[dict]]) -> list[str]:
    """Every plaintext the dump alone gives up."""
    fields, keys = encrypted_fields(tables), candidate_keys(tables)
    assert fields, "the dump holds no encrypted field: nothing was tried"
    return [p for key in keys for subject, field in fields if (p := _open(key, subject, field)) is not None]


def decrypt_with_kek(tables: dict[str, list[dict]], kek_id: str, kek: bytes) -> list[str]:
    """Every plaintext the dump gives up to someone who also holds the KEK."""
    data_keys = {}
    for row in tables["public.client_keys"]:
        if row["kek_id"] == kek_id:
            data_keys[row["client_id"]] = crypto.unwrap_key(kek, row["client_id"], str(row["key_id"]),
                                                            row["wrapped_key"])
    return [p for subject, field in encrypted_fields(tables)
            if subject in data_keys and (p := _open(data_keys[subject], subject, field)) is not None]
