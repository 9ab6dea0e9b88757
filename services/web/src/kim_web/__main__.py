"""`python -m kim_web` serves the web app (default port 8005)."""

import uvicorn

from .bootstrap import build_app
from .settings import WebSettings


def main() -> None:
    settings = WebSettings()
    uvicorn.run(build_app(settings), host=settings.http_host, port=settings.http_port,
                log_level=settings.log_level.lower(), proxy_headers=True)


if __name__ == "__main__":
    main()
