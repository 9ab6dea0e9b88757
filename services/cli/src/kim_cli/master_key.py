"""The key-encryption keys (KEKs) the `kim` command uses to open or re-wrap client data keys.

The cases service's own settings come first: KIM_MASTER_KEY or KIM_MASTER_KEY_FILE (and with KIM_ENV=dev and
neither, the public dev-only KEK). Without any of them, the local stack's KEK is used: the one `kim run` generated
and keeps in <stack dir>/secrets.json with the stack's other secrets.
"""

from __future__ import annotations

import json

from kim_cases.public import CasesSettings, Keyring, MasterKeyError, keyring_from_settings, parse_keks

from kim_cli.stack_config import StackConfig, StackError

SECRET_NAME = "master_key"  # its name in secrets.json


def keyring() -> Keyring:
    settings = CasesSettings()
    if settings.master_key is None and settings.master_key_file is None and settings.env != "dev":
        local = local_stack_secret(SECRET_NAME)
        if local is not None:
            where, text = local
            return Keyring(tuple(parse_keks(text, where)), f"the local stack's KEK ({where})")
    return keyring_from_settings(settings)


def local_stack_secret(name: str) -> tuple[str, str] | None:
    """(where, text) of one secret `kim run` keeps in <stack dir>/secrets.json; None when there is none."""
    try:
        path = StackConfig.from_env().dir / "secrets.json"
    except StackError:
        return None
    try:
        text = json.loads(path.read_text()).get(name)
    except (OSError, ValueError):
        return None
    return (str(path), text) if text else None

__all__ = ["MasterKeyError", "keyring"]
