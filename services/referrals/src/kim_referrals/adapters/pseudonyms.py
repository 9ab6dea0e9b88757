"""Per-partner client pseudonyms: the same client looks different to every partner, so partners cannot link."""

from __future__ import annotations

import hashlib
import hmac


def client_pseudonym(secret: str, client_id: str, organisation_id: str) -> str:
    digest = hmac.new(secret.encode(), f"{organisation_id}\x1f{client_id}".encode(), hashlib.sha256).hexdigest()
    return f"ps-{digest[:32]}"
