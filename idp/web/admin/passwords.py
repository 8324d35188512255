"""`/{code}/admin/passwords`: what the establishment's new accounts and resets get, the
birth date (the help page's rule, the default) or random initial passwords printed on
slips (idp.services.establishments.set_initial_passwords)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from idp.accounts.initial_passwords import InitialPasswords
from idp.db import read
from idp.i18n import N_, Message
from idp.services import establishments
from idp.web import flash
from idp.web.admin.guard import admin, page, posted
from idp.web.messages import EXPIRED
from idp.web.rendering import url
from idp.web.transactions import db

TEMPLATE = "admin/passwords.html"


def _page(request: Request, who, chosen: str, **context):  # type: ignore[no-untyped-def]
    days = request.app.state.runtime.settings.provisional_password_days
    return page(request, who, TEMPLATE, chosen=chosen, days=days, **context)


async def show(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    # The row, not the cached view: another instance may not have seen a change yet.
    chosen = await read(db(request), _choice_of, db(request), who.establishment.code)
    return _page(request, who, chosen.value)


def _choice_of(session, code: str) -> InitialPasswords:  # type: ignore[no-untyped-def]
    return establishments.get(session, code).initial_passwords


async def change(request: Request) -> Response:
    who, form = await posted(request)
    if isinstance(who, Response):
        return who
    typed = str(form.get("initial_passwords", ""))
    if typed not in {choice.value for choice in InitialPasswords}:
        current = await read(db(request), _choice_of, db(request), who.establishment.code)
        return _page(request, who, current.value, status_code=400,
                     error=Message(N_("Choisissez l'une des deux possibilités.")))  # fmt: skip
    if not form["_csrf_ok"]:
        return _page(request, who, typed, error=EXPIRED)
    rt = request.app.state.runtime
    code = who.establishment.code
    await run_in_threadpool(
        lambda: establishments.set_initial_passwords(
            rt, db(request), code, InitialPasswords(typed), actor=who.login
        )
    )
    notice = (
        N_("Enregistré : les nouveaux comptes et les réinitialisations recevront un mot de passe "
           "initial aléatoire, imprimé sur une fiche.")
        if typed == InitialPasswords.RANDOM
        else N_("Enregistré : les nouveaux comptes et les réinitialisations auront la date de "
                "naissance pour mot de passe initial.")
    )  # fmt: skip
    return flash.redirect(
        request, url(request, "admin_passwords", code=code), code, notice=Message(notice)
    )
