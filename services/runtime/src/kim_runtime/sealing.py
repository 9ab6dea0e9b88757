"""Sealed fields: the business dates and codes of one person's case, carried in one ciphertext under a key derived
from that person's data key (crypto-shredding: once the data key is destroyed, nothing opens them again).

The contract declares which fields of an event are sealed (kim_schemas.sealing); this module holds what every
service shares to open them without knowing which events those are:

- the sealing key of a client is HKDF-SHA256 of the client's data key with info ``kim-reporting``: it opens the
  sealed fields and nothing else (never personal data, which stays under the data key itself), so the cases service
  can hand it to the reporting service without handing over the data key;
- `seal_values` / `open_values`: AES-256-GCM of a JSON object (kim_runtime.crypto.seal_json), bound to the client and the event type (associated
  data), so a sealed part copied into another client's or another type's event does not open;
- `Unsealer`: opens the sealed fields of a consumed or loaded envelope with a key resolver (client id -> sealing key,
  or None when the client's key is destroyed). An envelope whose key is gone stays sealed: the caller skips it or
  shows it as erased.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from . import crypto
from .envelope import Envelope

REPORTING_INFO = b"kim-reporting"
KEY_BYTES, NONCE_BYTES = crypto.KEY_BYTES, crypto.NONCE_BYTES
SHREDDED_KEY_ID = "shredded"  # sealed after the client's erasure, under a key that was never kept


class Unopenable(Exception):
    """The sealed part does not open with this key (another client, another event type, or tampered)."""


def derive(data_key: bytes, info: bytes = REPORTING_INFO) -> bytes:
    """The sealing key of a client: HKDF-SHA256 of its data key (no salt: the data key is random already)."""
    return crypto.derive_key(data_key, info)


def _aad(client_id: str, event_type: str) -> bytes:
    return f"kim-sealed\x00{client_id}\x00{event_type}".encode()


def seal_values(key: bytes, key_id: str, client_id: str, event_type: str, values: dict[str, Any]) -> dict[str, str]:
    """{key_id, nonce, ciphertext} (the contract's Encrypted) of `values` as JSON."""
    nonce, ciphertext = crypto.seal_json(key, _aad(client_id, event_type), values)
    return {"key_id": key_id, "nonce": nonce, "ciphertext": ciphertext}


def seal_shredded(client_id: str, event_type: str, values: dict[str, Any]) -> dict[str, str]:
    """Sealed under a fresh key that is thrown away at once: what an event decided after the client's erasure (e.g.
    the closure of their case) carries, so its dates are never in clear and never readable."""
    return seal_values(crypto.new_key(), SHREDDED_KEY_ID, client_id, event_type, values)


def open_values(key: bytes, client_id: str, event_type: str, sealed: dict[str, str]) -> dict[str, Any]:
    try:
        return crypto.open_json(key, _aad(client_id, event_type), sealed["nonce"], sealed["ciphertext"])
    except crypto.Undecryptable:
        raise Unopenable(f"the sealed fields of {event_type} (key {sealed.get('key_id')}) do not open for client "
                         f"{client_id}") from None


KeyResolver = Callable[[str], Awaitable[bytes | None]]
"""client id -> the client's sealing key, or None once the client's data key is destroyed (erased)."""


class Unsealer:
    """Opens the sealed fields of envelopes whose event (the contract's model, `envelope.event`) has them.

    The model must offer `is_sealed` and `unseal(key, client_id)` (kim_schemas.sealing.SealedEvent); the client is
    the envelope's subject (ce_subject). `open` answers the envelope with the clear event and data, the envelope
    unchanged when nothing is sealed, or None when the client's key is gone (an erased client: nothing to read)."""

    def __init__(self, resolve: KeyResolver):
        self.resolve = resolve

    async def open(self, envelope: Envelope, resolve: KeyResolver | None = None) -> Envelope | None:
        event = envelope.event
        if event is None and envelope.data.get("sealed") is not None:  # not read through the contract yet
            from .contract import default_contract  # noqa: PLC0415

            event = default_contract().parse(envelope.type, envelope.schema_version, envelope.data)
            envelope = envelope.model_copy(update={"event": event})
        if event is None or not getattr(event, "is_sealed", False):
            return envelope
        client_id = envelope.subject
        if client_id is None or event.sealed.key_id == SHREDDED_KEY_ID:  # sealed after the erasure: never opens
            return None
        key = await (resolve or self.resolve)(client_id)
        if key is None:
            return None
        opened = event.unseal(key, client_id)
        return envelope.model_copy(update={"event": opened, "data": opened.model_dump(mode="json")})

    async def open_all(self, envelopes: list[Envelope]) -> list[Envelope | None]:
        """`open` for many envelopes, each client's key resolved once."""
        keys: dict[str, bytes | None] = {}

        async def cached(client_id: str) -> bytes | None:
            if client_id not in keys:
                keys[client_id] = await self.resolve(client_id)
            return keys[client_id]

        return [await self.open(e, cached) for e in envelopes]


DataKeyOf = Callable[[str], Awaitable[tuple[str, bytes] | None]]
"""client id -> (key id, data key) of the client, or None once it is destroyed: what the cases service holds."""


class Sealing:
    """Both directions for the holder of the data keys (the cases service): `seal` a decision's events before they
    are appended, `unsealer` to open what it loads or consumes."""

    def __init__(self, data_key_of: DataKeyOf):
        self.data_key_of = data_key_of
        self.unsealer = Unsealer(self.sealing_key)

    async def sealing_key(self, client_id: str) -> bytes | None:
        found = await self.data_key_of(client_id)
        return None if found is None else derive(found[1])

    async def seal(self, events: list[Any], client_id: str | None) -> list[Any]:
        """The events with their sealed fields sealed under the client's sealing key; after the client's erasure
        under a key thrown away at once (kim_schemas.sealing.SealedEvent.seal)."""
        if client_id is None or not any(getattr(e, "sealed_fields", ()) for e in events):
            return list(events)
        found = await self.data_key_of(client_id)
        key, key_id = (None, SHREDDED_KEY_ID) if found is None else (derive(found[1]), found[0])
        return [e.seal(key, key_id, client_id) if getattr(e, "sealed_fields", ()) else e for e in events]
