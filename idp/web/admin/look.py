"""`/{code}/admin/look`: the establishment's logo and accent colour (idp.services.looks)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from idp.errors import IdpError
from idp.i18n import N_, Message
from idp.services import looks
from idp.web import flash
from idp.web.admin.guard import admin, page, posted
from idp.web.messages import EXPIRED
from idp.web.rendering import url
from idp.web.transactions import db


async def show(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    return page(request, who, "admin/look.html", accent=who.establishment.accent or "")


async def change(request: Request) -> Response:
    who, form = await posted(request)
    if isinstance(who, Response):
        return who
    typed = str(form.get("accent", ""))[:20]
    if not form["_csrf_ok"]:
        return page(request, who, "admin/look.html", accent=typed, error=EXPIRED)
    upload = form.get("logo")
    data = None
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(looks.MAX_LOGO_BYTES + 1)
        await upload.close()
    rt = request.app.state.runtime
    code = who.establishment.code
    try:
        await run_in_threadpool(
            lambda: looks.change(
                rt,
                db(request),
                code,
                logo=data,
                remove_logo=form.get("remove_logo") == "1",
                accent="" if form.get("default_accent") == "1" else typed,
                actor=who.login,
            )
        )
    except IdpError as exc:
        return page(
            request, who, "admin/look.html", accent=typed, status_code=400, error=exc.public
        )
    return flash.redirect(
        request,
        url(request, "admin_look", code=code),
        code,
        notice=Message(N_("Apparence enregistrée : elle s'affiche sur toutes les pages.")),
    )
