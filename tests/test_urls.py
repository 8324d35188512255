"""Paths and public URLs built from the route table's names."""

from __future__ import annotations

from idp.urls import Urls


def test_paths_and_public_urls_come_from_the_route_names():
    urls = Urls("https://connect.cpro.example/")
    assert urls.path("login", code="lp-a") == "/lp-a/login"
    assert urls.path("admin_user", {"created": "1"}, code="lp-a", login="lea.martin") == (
        "/lp-a/admin/users/lea.martin?created=1"
    )
    assert urls.public("token", code="lp-a") == "https://connect.cpro.example/lp-a/oidc/token"
    assert urls.path("static", path="/css/cpro.css") == "/static/css/cpro.css"
