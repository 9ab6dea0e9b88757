"""The dashboard: a static page whose script reads the JSON API with the user's token (the page holds no data)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from kim_runtime.policy import authorize

STATIC = resources.files("kim_reporting") / "entrypoints" / "static"
router = APIRouter(tags=["dashboard"])


@router.get("/dashboard", response_class=HTMLResponse, summary="Dashboard (charts of the indicators and lag)",
            dependencies=[Depends(authorize("public"))])
async def dashboard() -> HTMLResponse:
    return HTMLResponse((STATIC / "dashboard.html").read_text(encoding="utf-8"))


def static_files() -> StaticFiles:
    return StaticFiles(directory=str(STATIC))
