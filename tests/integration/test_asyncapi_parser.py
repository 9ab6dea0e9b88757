"""schemas/asyncapi.yaml validated by the real AsyncAPI parser (npm @asyncapi/parser, installed by `make node`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy/tools/validate-asyncapi.mjs"
DOCUMENT = ROOT / "schemas/asyncapi.yaml"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed; the AsyncAPI validator needs Node.js")


def validate(path: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([NODE, str(SCRIPT), str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 2, f"{result.stderr} (run `make node` first)"
    return result


def test_the_committed_asyncapi_document_is_valid():
    result = validate(DOCUMENT)
    assert result.returncode == 0, result.stdout + result.stderr
    channels = len(yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))["channels"])
    assert "VALID: " in result.stdout and f"AsyncAPI 3.0.0, {channels} channels" in result.stdout


def test_the_validator_rejects_a_broken_document(tmp_path):
    text = DOCUMENT.read_text(encoding="utf-8")
    broken = tmp_path / "asyncapi.yaml"
    broken.write_text(text.replace("'#/components/messages/cases.CaseOpened.v1'", "'#/components/messages/nope'"))
    result = validate(broken)
    assert result.returncode == 1 and "does not exist" in result.stdout
