"""The four services as real processes on fresh databases of the session's stack, for the contract tier (as the
e2e tier starts them: tests/e2e/conftest.py); stopped by pid and their databases dropped when the tier is done."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from kim_cli.stack import StackHandle

from tests.four_services import four_services


@dataclass
class Services:
    urls: dict[str, str]
    auth_secret: str


@pytest.fixture(scope="package")
def services(stack: StackHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with four_services(stack, tmp_path_factory.mktemp("contract-logs"), "kim_contract") as running:
        yield Services(running.urls, running.auth_secret)
