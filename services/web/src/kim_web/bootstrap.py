"""The composition root: settings -> app (the HTTP client to the services is made in the app's lifespan)."""

from __future__ import annotations

from fastapi import FastAPI

from .entrypoints.app import create_app
from .settings import WebSettings


def build_app(settings: WebSettings | None = None) -> FastAPI:
    return create_app(settings or WebSettings())
