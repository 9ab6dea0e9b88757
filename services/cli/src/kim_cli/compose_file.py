"""docker-compose.yml as compose reads it, without a Docker engine: the Compose Specification's interpolation and a
.env file. The secure local broker (kim_cli.secure_kafka) takes the `kafka` and `kafka-init` services' settings from
here, so `kim run` runs the broker production runs; the static compose tests use the same functions.
"""

from __future__ import annotations

import re
from pathlib import Path

_VAR = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, $$."""

    def one(m: re.Match) -> str:
        if m["dollar"]:
            return "$"
        name = m["name"] or m["bare"]
        op, arg, value = m["op"], m["arg"] or "", env.get(name)
        missing = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":-", "-"):
            return arg if missing else value
        if op in (":?", "?"):
            if missing:
                raise KeyError(f"{name}: {arg}")
            return value
        if op in (":+", "+"):
            return "" if missing else arg
        return value or ""

    return _VAR.sub(one, text)


def interpolate_tree(node, env: dict[str, str]):
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, env) for v in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def variables_used(text: str) -> set[str]:
    return {m["name"] or m["bare"] for m in _VAR.finditer(text) if not m["dollar"]}


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def load(path: Path, env: dict[str, str]) -> dict:
    """The compose file with `env` interpolated (as `docker compose config` shows it)."""
    import yaml  # noqa: PLC0415 - keep `kim --help` fast

    return interpolate_tree(yaml.safe_load(path.read_text()), env)
