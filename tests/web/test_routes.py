"""The route table: every route has a name, and no template spells out a path (paths are
built from the names, idp.urls)."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Mount, Route

from idp.templating import TEMPLATES_DIR
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
