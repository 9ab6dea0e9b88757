"""`python -m kim_cases` serves the cases service (default port 8001)."""

import sys

from kim_runtime.service import run

from kim_cases.adapters.keyring import MasterKeyError, from_settings
from kim_cases.bootstrap import build_app
from kim_cases.settings import CasesSettings


def main() -> None:
    settings = CasesSettings()
    try:
        from_settings(settings)  # the lifespan loads it again; this only turns a missing KEK into one clear line
    except MasterKeyError as exc:
        sys.exit(f"kim_cases cannot start: {exc}")
    run(build_app(settings), settings)


if __name__ == "__main__":
    main()
