"""deploy/Dockerfile read statically: pinned base, installs from uv.lock as is, slim multi-stage, non-root."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from tests.unit.test_compose_file import ROOT

DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    return [(l.split(None, 1)[0].upper(), l.split(None, 1)[1]) for l in joined.splitlines() if l.strip()]


def stages(text: str) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for ins in instructions(text):
        if ins[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def global_args(text: str) -> dict[str, str]:
    args = {}
    for op, rest in instructions(text):
        if op == "FROM":
            break
        if op == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            args[key] = value
    return args


def base_images(text: str) -> list[str]:
    args = global_args(text)
    images = []
    for stage in stages(text):
        image = stage[0][1].split()[0]
        images.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], image))
    return images


def test_base_images_are_pinned_to_an_exact_slim_python():
    text = DOCKERFILE.read_text()
    local = [stage for stage in base_images(text) if not stage.startswith("python:")]
    assert local == []
    for image in base_images(text):
        assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", image), image


def test_it_is_multi_stage_and_the_runtime_stage_carries_only_the_virtualenv():
    build, runtime = stages(DOCKERFILE.read_text())
    copies = [rest for op, rest in runtime if op == "COPY"]
    assert copies and all(c.startswith("--from=build ") for c in copies)
    assert not any(op == "RUN" and ("pip install" in rest or "uv " in rest) for op, rest in runtime)


def test_packages_come_from_the_lock_file_as_is():
    build, _ = stages(DOCKERFILE.read_text())
    copies = " ".join(rest for op, rest in build if op == "COPY")
    assert "uv.lock" in copies
    [sync] = [rest for op, rest in build if op == "RUN" and "uv sync" in rest]
    assert re.search(r"--(frozen|locked)\b", sync)
    assert "--no-dev" in sync and '--package "kim-${KIM_SERVICE}"' in sync
    pinned_uv = [rest for op, rest in build if op == "ARG" and rest.startswith("UV_VERSION=")]
    assert pinned_uv and re.fullmatch(r"UV_VERSION=\d+\.\d+\.\d+", pinned_uv[0])


def test_runs_as_a_non_root_user():
    _, runtime = stages(DOCKERFILE.read_text())
    users = [rest.strip() for op, rest in runtime if op == "USER"]
    assert users, "the runtime stage sets no USER, so it runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert any(op == "RUN" and f"--uid {user}" in rest for op, rest in runtime) or not user.isdigit()


def test_every_copied_path_exists_and_is_in_the_build_context():
    text = DOCKERFILE.read_text()
    ignore = [l.strip() for l in (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()]
    ignore = [l for l in ignore if l and not l.startswith("#")]
    for op, rest in instructions(text):
        if op != "COPY" or rest.startswith("--from"):
            continue
        for source in rest.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert included(source.rstrip("/"), ignore), f"{source} is excluded by Dockerfile.dockerignore"


def included(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics for one path: the last matching pattern wins; '!' re-includes."""
    keep = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        if fnmatch.fnmatch(path, pattern.lstrip("!").rstrip("/")):
            keep = negate
    return keep


def test_the_build_context_leaves_out_local_state():
    ignore = [l.strip() for l in (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()]
    ignore = [l for l in ignore if l and not l.startswith("#")]
    for path in (".venv", ".cache", ".env", ".git", "tests"):
        assert not included(path, ignore), path
    assert Path(ROOT / "uv.lock").is_file()
