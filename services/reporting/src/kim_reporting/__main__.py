"""`python -m kim_reporting` serves the reporting service (default port 8004)."""

from kim_runtime.service import run

from .bootstrap import build_app
from .settings import ReportingSettings


def main() -> None:
    settings = ReportingSettings()
    run(build_app(settings), settings)


if __name__ == "__main__":
    main()
