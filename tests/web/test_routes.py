"""The route table: every route has a name, and URLs are built from the names (idp.urls),
never spelled out in a template."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Mount, Route

from idp.templating import TEMPLATES_DIR
from idp.urls import Urls
from idp.web.routes import routes

# A link or form target written as a path ("/…") instead of `url("name", …)`.
HAND_BUILT = re.compile(r"""(?:href|action|src)=["']/""")


def test_every_route_has_a_name():
    unnamed = [r.path for r in routes() if isinstance(r, Route | Mount) and not r.name]
    assert unnamed == []


def test_templates_build_no_path_by_hand():
    offenders = [
        f"{path.relative_to(TEMPLATES_DIR)}:{number}: {line.strip()}"
        for path in sorted(Path(TEMPLATES_DIR).rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if HAND_BUILT.search(line)
    ]
    assert offenders == []


def test_paths_and_public_urls_come_from_the_route_names():
    urls = Urls("https://connect.cpro.example/")
    assert urls.path("login", code="lp-a") == "/lp-a/login"
    assert urls.path("admin_user", {"created": "1"}, code="lp-a", login="lea.martin") == (
        "/lp-a/admin/users/lea.martin?created=1"
    )
    assert urls.public("token", code="lp-a") == "https://connect.cpro.example/lp-a/oidc/token"
    assert urls.path("static", path="/css/cpro.css") == "/static/css/cpro.css"
