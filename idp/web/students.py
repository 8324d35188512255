"""`/{code}/students`: a teacher resets a student's password to its initial value, the
birth date (help page: « votre établissement … pourra réinitialiser votre mot de passe »).
Students only: no access to other teachers or to the admin account (the rule is
idp.services.accounts.reset_student_password's, checked with the reset)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.accounts.roles import Role
from idp.directory import EstablishmentView
from idp.errors import Forbidden
from idp.i18n import N_, Message
from idp.models import Establishment
from idp.security.csrf import FIELD, CsrfCheck
from idp.services import accounts
from idp.store import users
from idp.web.forms import check_csrf, csrf_token, current_session, finish
from idp.web.messages import EXPIRED
from idp.web.pages import resolve_open
from idp.web.rendering import render, url
from idp.web.transactions import db

PAGE = 50


async def _teacher(request: Request, establishment: EstablishmentView):  # type: ignore[no-untyped-def]
    session = await current_session(request, establishment.id, establishment.code)
    if session is None:
        next_url = url(request, "students", code=establishment.code)
        return RedirectResponse(
            url(request, "login", {"next": next_url}, code=establishment.code), status_code=303
        )
    if session.user.role not in accounts.MAY_RESET_STUDENTS:
        return render(
            request, "errors/forbidden.html", status_code=403, establishment=establishment
        )
    return session


async def page(
    request: Request,
    *,
    notice: Message | None = None,
    error: Message | None = None,
    status_code: int = 200,
) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    session = await _teacher(request, establishment)
    if isinstance(session, Response):
        return session
    query = request.query_params.get("q", "")[:100]
    try:
        number = min(max(1, int(request.query_params.get("page", "1"))), 100_000)
    except ValueError:
        number = 1

    def load():  # type: ignore[no-untyped-def]
        work = db(request)
        found, total = users.search(
            work,
            work.get(Establishment, establishment.id),
            roles=[Role.STUDENT],
            query=query,
            offset=(number - 1) * PAGE,
            limit=PAGE,
        )
        return [
            (u.login, u.first_name, u.last_name, u.group_names, u.password_state) for u in found
        ], total

    rows, total = await run_in_threadpool(load)
    response = render(
        request,
        "students.html",
        status_code=status_code,
        establishment=establishment,
        teacher=session.user,
        rows=rows,
        total=total,
        query=query,
        page=number,
        pages=max(1, (total + PAGE - 1) // PAGE),
        notice=notice,
        error=error,
        csrf_field=FIELD,
        csrf_token=csrf_token(request),
    )
    return finish(request, response)


async def reset(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    session = await _teacher(request, establishment)
    if isinstance(session, Response):
        return session
    form = await request.form()
    if await check_csrf(request, str(form.get(FIELD, "")) or None) is not CsrfCheck.OK:
        return await page(request, error=EXPIRED)
    login = str(form.get("login", ""))[:100]
    rt = request.app.state.runtime
    try:
        await run_in_threadpool(
            lambda: accounts.reset_student_password(
                rt, db(request), establishment.code, login, teacher_login=session.user.login
            )
        )
    except Forbidden as exc:
        return await page(request, status_code=exc.status_code, error=exc.public)
    return await page(
        request,
        notice=Message(
            N_(
                "Le mot de passe de %(login)s est de nouveau sa date de naissance (jjmmaaaa). "
                "L'élève devra le changer à sa prochaine connexion."
            ),
            {"login": login},
        ),
    )
