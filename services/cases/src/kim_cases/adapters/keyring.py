"""The key-encryption keys (KEKs) a cases service holds: never in its database, only in its environment or a file.

They are written as `ID:KEY` entries (KEY: 32 random bytes in base64), separated by commas or newlines, in
KIM_MASTER_KEY or in the file named by KIM_MASTER_KEY_FILE (there, lines starting with # are comments). The first
entry is the current KEK: it wraps every new data key and is what `kim keys rotate` re-wraps to. Later entries are
previous KEKs, kept only while data keys wrapped under them remain (`kim keys status` counts them).

Outside dev a missing KEK stops the service at start-up. Only KIM_ENV=dev falls back to a fixed dev-only KEK, which
is public (it is in this file) and therefore protects nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from kim_runtime.secret_source import read_secret

from kim_cases.adapters import crypto

log = logging.getLogger(__name__)

KEK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
HOW_TO_GET_ONE = ("`kim keys generate` prints a new one (deploy/README.md, section \"Client data keys\", says where "
                  "to keep it)")


class MasterKeyError(ValueError):
    """The KEK configuration is missing or wrong; the message says what to change."""


@dataclass(frozen=True)
class MasterKey:
    kek_id: str
    key: bytes = field(repr=False)

    def entry(self) -> str:
        """The `ID:KEY` text to put into KIM_MASTER_KEY or the key file."""
        return f"{self.kek_id}:{base64.b64encode(self.key).decode()}"

    @property
    def verifier(self) -> bytes:
        return crypto.kek_verifier(self.key)


DEV_KEK = MasterKey("dev-only", hashlib.sha256(b"KIM Hub dev-only key-encryption key: public, never for real data")
                    .digest())


def generate(kek_id: str | None = None) -> MasterKey:
    kek_id = kek_id or f"kek-{date.today():%Y%m%d}-{os.urandom(2).hex()}"
    if not KEK_ID.fullmatch(kek_id):
        raise MasterKeyError(f"KEK id {kek_id!r}: use 1-64 characters of A-Z a-z 0-9 . _ - (first a letter or digit)")
    return MasterKey(kek_id, os.urandom(crypto.KEY_BYTES))


def parse(text: str, where: str) -> list[MasterKey]:
    """The KEKs written in `text` (current first); `where` names the setting in error messages."""
    entries = [e.strip() for line in text.splitlines() if not line.strip().startswith("#") for e in line.split(",")]
    keys: list[MasterKey] = []
    for n, entry in enumerate((e for e in entries if e), start=1):
        kek_id, colon, encoded = entry.partition(":")
        if not colon or not KEK_ID.fullmatch(kek_id):
            raise MasterKeyError(f"{where}: entry {n} is not ID:KEY (ID: 1-64 characters of A-Z a-z 0-9 . _ -); "
                                 + HOW_TO_GET_ONE)
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            key = b""
        if len(key) != crypto.KEY_BYTES:
            raise MasterKeyError(f"{where}: the key of {kek_id!r} is not 32 bytes in base64; " + HOW_TO_GET_ONE)
        if any(k.kek_id == kek_id for k in keys):
            raise MasterKeyError(f"{where}: KEK id {kek_id!r} is listed twice; each id names one key")
        keys.append(MasterKey(kek_id, key))
    if not keys:
        raise MasterKeyError(f"{where} holds no key; " + HOW_TO_GET_ONE)
    return keys


class MissingKek(MasterKeyError):
    """A data key is wrapped under a KEK this process does not hold."""


@dataclass(frozen=True)
class Keyring:
    """The KEKs one process holds: the current one first, then previous ones still needed to unwrap."""

    keys: tuple[MasterKey, ...]
    source: str

    @property
    def current(self) -> MasterKey:
        return self.keys[0]

    @property
    def ids(self) -> list[str]:
        return [k.kek_id for k in self.keys]

    def get(self, kek_id: str) -> MasterKey:
        for k in self.keys:
            if k.kek_id == kek_id:
                return k
        raise MissingKek(f"a data key is wrapped under KEK {kek_id!r}, which {self.source} does not hold "
                         f"(it holds {', '.join(self.ids)}): list {kek_id!r} after the current KEK until "
                         "`kim keys status` shows no data key left under it")

    def wrap(self, client_id: str, key_id: str, data_key: bytes) -> tuple[str, bytes]:
        kek = self.current
        return kek.kek_id, crypto.wrap_key(kek.key, client_id, key_id, data_key)

    def unwrap(self, client_id: str, key_id: str, kek_id: str, wrapped: bytes) -> bytes:
        return crypto.unwrap_key(self.get(kek_id).key, client_id, key_id, wrapped)


def load(*, env: str, master_key: str | None, master_key_file: Path | None) -> Keyring:
    """The keyring a process runs with, or MasterKeyError saying what is missing and how to provide it."""
    given = read_secret("KIM_MASTER_KEY", master_key, master_key_file, MasterKeyError)
    if given is not None:
        text, where = given
        return Keyring(tuple(parse(text, where)), where.split(" (")[0])
    if env == "dev":
        log.warning("KIM_ENV=dev and no KIM_MASTER_KEY: client data keys are wrapped under the public dev-only KEK")
        return Keyring((DEV_KEK,), "the dev-only fallback (KIM_ENV=dev)")
    raise MasterKeyError("no key-encryption key: set KIM_MASTER_KEY to ID:KEY, or KIM_MASTER_KEY_FILE to a file "
                         "holding it; " + HOW_TO_GET_ONE + ". Only KIM_ENV=dev runs without one.")


def from_settings(settings) -> Keyring:
    """The keyring of a CasesSettings (or anything with env, master_key and master_key_file)."""
    secret = settings.master_key.get_secret_value() if settings.master_key is not None else None
    return load(env=settings.env, master_key=secret, master_key_file=settings.master_key_file)
