"""The global pages and the establishment's own address."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.accounts import establishment_codes
from idp.db import read
from idp.directory import EstablishmentView, Missing
from idp.errors import InvalidInput
from idp.web.rendering import render
from idp.web.transactions import db


async def home(request: Request) -> Response:
    return render(request, "home.html")


async def resolve_open(request: Request) -> EstablishmentView | Response:
    """As `resolve`, but a suspended establishment answers with a page saying so."""
    establishment = await resolve(request)
    if isinstance(establishment, EstablishmentView) and not establishment.enabled:
        return render(request, "suspended.html", status_code=403, establishment=establishment)
    return establishment


async def resolve(request: Request) -> EstablishmentView | Response:
    """The establishment named by `{code}`, a redirect to its lower-case address, or 404."""
    code: str = request.path_params["code"]
    if code != code.lower():
        # Relative: the Host header is the client's to choose, never our redirect target.
        lowered = request.url.path.replace(f"/{code}", f"/{code.lower()}", 1)
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(lowered + query, status_code=308)
    try:
        establishment_codes.validate(code)
    except InvalidInput:
        raise HTTPException(404) from None
    directory = request.app.state.directory
    view = directory.peek(code)
    if isinstance(view, Missing):
        # The lookup's transaction ends with it (idp.db.read): nothing is written yet.
        view = await read(db(request), directory.get, db(request), code)
    if view is None:
        raise HTTPException(404)
    return view
