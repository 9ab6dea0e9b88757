"""Signed exports: every `kim audit ... --export FILE` writes FILE and FILE.sig beside it.

FILE.sig is one JSON object: the file's name and SHA-256 (hex), the audit key's id, and an Ed25519 signature over
the 32 bytes of that SHA-256 with the audit signing key (the key that signs the anchors), made by the cases service
when it records the export (POST /audit/records): the CLI holds no signing key.
`kim audit verify-export FILE` recomputes the hash and checks the signature against the trusted public keys, so a
changed byte, a swapped .sig or a signature by an untrusted key is found. Exports are deterministic (no time of
export, no terminal width, the audit log's records of reading and exporting left out), so the same trail exported
twice gives the same bytes and the same signature (Ed25519 signatures are deterministic).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from kim_cli.audit.anchors import trusted_keys
from kim_cli.audit.connect import UserError

FORMAT = "kim-audit-export-signature/1"


def sig_path(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


def signature_document(name: str, content: bytes, signed: dict) -> dict:
    """FILE.sig's content from the signature the cases service answered when it recorded the export
    (POST /audit/records: sha256, key_id, signature)."""
    digest = hashlib.sha256(content).hexdigest()
    if signed.get("sha256") != digest:
        raise UserError(f"the cases service signed SHA-256 {signed.get('sha256')}, not this export's {digest}")
    return {"format": FORMAT, "file": name, "sha256": digest, "key_id": signed["key_id"],
            "algorithm": "Ed25519 over the SHA-256 of the file", "signature": signed["signature"]}


def write_export(path: Path, text: str, signed: dict) -> str:
    """Write the export and its signature (`signed`, the cases service's; the CLI holds no signing key); returns
    the file's SHA-256 (hex)."""
    content = text.encode()
    document = signature_document(path.name, content, signed)
    path.write_bytes(content)
    sig_path(path).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return document["sha256"]


def export_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Checked:
    ok: bool
    message: str


def verify_export(path: Path, signature: Path | None = None, public_keys: list[str] | None = None) -> Checked:
    """Check FILE against FILE.sig (or `signature`); UserError when either cannot be read."""
    sig = signature or sig_path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror})") from None
    try:
        document = json.loads(sig.read_text())
        recorded, key_id = document["sha256"], document["key_id"]
        signed = base64.b64decode(document["signature"], validate=True)
    except OSError as exc:
        raise UserError(f"cannot read the signature {sig} ({exc.strerror}); every export is written with FILE.sig "
                        "beside it: give it with --signature if it was moved") from None
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{sig} is not an export signature (expected JSON with sha256, key_id, signature)") from None
    actual = hashlib.sha256(content).hexdigest()
    if actual != recorded:
        return Checked(False, f"FAILED: {path} was changed after it was exported: its SHA-256 is {actual}, the "
                              f"signature covers {recorded}")
    keys = trusted_keys(public_keys)
    key = keys.get(key_id)
    if key is None:
        return Checked(False, f"FAILED: {sig} is signed by key {key_id}, which is not a trusted audit key (trusted: "
                              f"{', '.join(sorted(keys)) or 'none'}; give the county's with --public-key)")
    try:
        key.verify(signed, bytes.fromhex(recorded))
    except (InvalidSignature, ValueError):
        return Checked(False, f"FAILED: the signature in {sig} does not match the SHA-256 it names (the .sig was "
                              "changed or belongs to another file)")
    return Checked(True, f"verified: {path} ({len(content):,} bytes, SHA-256 {actual}) is exactly as exported, "
                         f"signed by audit key {key_id}")
