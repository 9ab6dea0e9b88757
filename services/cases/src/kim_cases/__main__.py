"""`python -m kim_cases` serves the cases service (default port 8001)."""

from kim_runtime.service import run

from kim_cases.bootstrap import build_app
from kim_cases.settings import CasesSettings


def main() -> None:
    settings = CasesSettings()
    run(build_app(settings), settings)


if __name__ == "__main__":
    main()
