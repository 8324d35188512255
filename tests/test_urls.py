"""Paths and public URLs built from the route table's names."""

from __future__ import annotations

import pytest
from starlette.routing import Mount, NoMatchFound, Route

from idp.urls import Urls


def test_paths_and_public_urls_come_from_the_route_names():
    urls = Urls("https://connect.cpro.example/")
    assert urls.path("login", code="lp-a") == "/lp-a/login"
    assert urls.path("admin_user", {"created": "1"}, code="lp-a", login="lea.martin") == (
        "/lp-a/admin/users/lea.martin?created=1"
    )
    assert urls.public("token", code="lp-a") == "https://connect.cpro.example/lp-a/oidc/token"
    assert urls.path("static", path="/css/cpro.css") == "/static/css/cpro.css"


def test_every_named_route_builds_the_path_starlette_builds_and_again_from_the_cache():
    """The route that answers a name is remembered: asked twice, with other values, every
    named route of the table still builds exactly what Starlette's own router builds."""
    urls = Urls("https://connect.cpro.example")
    router = urls._routes()
    named = [
        route
        for route in router.routes
        if isinstance(route, (Route, Mount)) and route.name and "{path" not in route.path
    ]
    assert len(named) > 30
    for route in named:
        for value in ("lp-a", "clg-b"):
            values = {param: value for param in route.param_convertors}
            assert urls.path(route.name, **values) == router.url_path_for(route.name, **values)


def test_an_unknown_name_or_missing_parameter_is_refused_every_time():
    urls = Urls("https://connect.cpro.example")
    for _ in range(2):
        with pytest.raises(NoMatchFound):
            urls.path("no_such_route", code="lp-a")
        with pytest.raises(NoMatchFound):
            urls.path("login")  # its `code` is missing
    assert urls.path("login", code="lp-a") == "/lp-a/login"
