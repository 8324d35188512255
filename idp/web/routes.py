"""The only URL table (DESIGN.md, "URL map")."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from idp.web import health, pages

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def routes() -> list[BaseRoute]:
    return [
        Route("/", pages.home, name="home"),
        Route("/healthz", health.healthz, name="healthz"),
        Route("/readyz", health.readyz, name="readyz"),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        Route("/{code}", pages.establishment_home, name="establishment"),
    ]
