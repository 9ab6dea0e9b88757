"""`python -m kim_web` serves the web app (default port 8005)."""

import logging

import uvicorn

from .bootstrap import build_app
from .settings import WebSettings


# library loggers that would write request URLs (paths and queries carry client, case, consent and referral ids)
QUIET = ("httpx", "httpcore", "uvicorn.access")


def main() -> None:
    settings = WebSettings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn's access log writes each path; kim_web.access logs the route's template instead
    uvicorn.run(build_app(settings), host=settings.http_host, port=settings.http_port,
                log_level=settings.log_level.lower(), proxy_headers=True, access_log=False)


if __name__ == "__main__":
    main()
