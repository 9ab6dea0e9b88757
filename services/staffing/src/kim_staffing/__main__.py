"""`python -m kim_staffing` serves the staffing service (settings from KIM_* environment variables)."""

from kim_runtime.service import run

from .bootstrap import build_app
from .settings import StaffingSettings

if __name__ == "__main__":
    settings = StaffingSettings()
    run(build_app(settings), settings)
