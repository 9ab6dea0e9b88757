"""`python -m kim_referrals` serves the referrals service (default port 8003)."""

from kim_runtime.service import run

from .bootstrap import build_app
from .settings import ReferralSettings


def main() -> None:
    settings = ReferralSettings()
    run(build_app(settings), settings)


if __name__ == "__main__":
    main()
