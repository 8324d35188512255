"""`/{code}/admin/incident`: credentials have leaked. After the establishment's code typed
again, every password of the establishment (or of one role) is replaced, sessions and tokens
end, modules are told (idp.services.incident); the page that answers holds the sign-in
slips with the new initial passwords, shown this once (nothing keeps them in clear)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from idp.accounts.roles import Role
from idp.errors import IdpError
from idp.i18n import N_, Message
from idp.services import incident
from idp.web import handouts
from idp.web.admin.guard import admin, page, posted
from idp.web.messages import EXPIRED
from idp.web.navigation import Viewer
from idp.web.transactions import db

ROLES = ("", *(r.value for r in Role))


async def show(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    return page(request, who, "admin/incident.html", role="")


async def declare(request: Request) -> Response:
    who, form = await posted(request)
    if isinstance(who, Response):
        return who
    role = str(form.get("role", ""))
    if role not in ROLES:
        # Never widened to every account by a value the form does not offer.
        return page(request, who, "admin/incident.html", role="", status_code=400,
                    error=Message(N_("Choisissez les comptes concernés.")))  # fmt: skip
    if not form["_csrf_ok"]:
        return page(request, who, "admin/incident.html", role=role, error=EXPIRED)
    code = who.establishment.code
    if str(form.get("confirm", "")).strip().lower() != code:
        return page(
            request,
            who,
            "admin/incident.html",
            role=role,
            status_code=400,
            error=Message(
                N_("Tapez le code de l'établissement (%(code)s) pour confirmer : rien n'a changé."),
                {"code": code},
            ),
        )
    rt = request.app.state.runtime
    try:
        done = await run_in_threadpool(
            lambda: incident.declare(
                rt, db(request), code, role=Role(role) if role else None, actor=who.login
            )
        )
    except IdpError as exc:
        await run_in_threadpool(db(request).rollback)
        return page(
            request, who, "admin/incident.html", role=role, status_code=exc.status_code,
            error=exc.public,
        )  # fmt: skip
    return handouts.sheet(
        request, who.establishment, Viewer.of(who.session.user), done.handouts, back=None,
        incident=done,
    )  # fmt: skip
