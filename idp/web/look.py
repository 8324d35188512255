"""`/{code}/logo` and `/{code}/theme.css`: an establishment's look, served from the database
by every instance. Their addresses carry the look's version (`?v=`), so browsers keep them
a day and never show an old one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idp.db import in_thread
from idp.services import looks
from idp.web.pages import resolve
from idp.web.transactions import db

CACHED = {"Cache-Control": "public, max-age=86400"}


async def logo(request: Request) -> Response:
    establishment = await resolve(request)
    if isinstance(establishment, Response):
        return establishment
    found = await in_thread(db(request), looks.logo_of, db(request), establishment.id)
    if found is None:
        return Response(status_code=404)
    # The type checked at upload, never guessed by the browser (nosniff is on every answer).
    return Response(found.data, media_type=found.content_type, headers=CACHED)


async def theme(request: Request) -> Response:
    establishment = await resolve(request)
    if isinstance(establishment, Response):
        return establishment
    # The accent was checked (#rrggbb, dark enough for white text) before it was stored.
    css = f":root {{ --blue: {establishment.accent}; }}\n" if establishment.accent else ""
    return Response(css, media_type="text/css", headers=CACHED)
