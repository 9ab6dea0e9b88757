"""Issue 15: the `kim` CLI decrypts nothing it shows. Every use of the key-encryption key (KEK) or of a key ring in
services/cli, read from the source (ast, imports inside functions too), is one of the key-management commands that
re-wrap or create keys and show no personal data; `kim audit` uses none, and kim_cases.public offers nothing that
opens a client's data."""

from __future__ import annotations

import ast
from pathlib import Path

import kim_cases.public

ROOT = Path(__file__).resolve().parents[3]
CLI = ROOT / "services/cli/src/kim_cli"
# what opens or unwraps: the KEK (kim_cli.master_key.keyring), a Keyring and the functions that make one
KEK_NAMES = {"keyring", "Keyring", "keyring_from_settings", "parse_keks", "MasterKey", "generate_kek", "key_admin",
             "rotate_data_keys", "prepare_keys", "decrypt", "client_data_key",
             "unsealer_for"}

# the KEK's uses that remain, and why each shows no personal data
ALLOWED = {
    "master_key.py": "where the KEK is found (KIM_MASTER_KEY, the key file, the local stack's), for `kim keys`",
    "keys_cmd.py": "`kim keys generate|status|rotate`: a new KEK, counts per KEK, re-wrapping data keys",
    "bench_keys.py": "`kim bench keys`: re-wraps generated keys of a fresh bench database, no client's data",
    "processes.py": "`kim run`: generates the local stack's KEK for the cases service's environment",
    "replay_cmd.py": "`kim replay` of the cases service's own projections (an operator's command with the service's "
                     "credentials): opens the sealed dates into the service's read models as the service does live; "
                     "it shows nothing",
}


def _uses(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module in ("kim_cases.public", "kim_cli.master_key"):
            found |= {a.name for a in node.names if a.name in KEK_NAMES}
    return found


def test_only_the_key_commands_use_the_kek_and_kim_audit_never_does():
    users = {str(p.relative_to(CLI)): sorted(u) for p in sorted(CLI.rglob("*.py")) if (u := _uses(p))}
    assert set(users) == set(ALLOWED), users
    assert not any(name.startswith("audit") for name in users)


def test_the_cases_service_exports_nothing_that_opens_a_clients_data():
    assert not {"decrypt", "client_data_key", "case_state_at"} & set(kim_cases.public.__all__)
    assert not hasattr(kim_cases.public, "decrypt")
