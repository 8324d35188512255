"""`/{code}/students`: a teacher resets a student's password to its initial value, the
birth date (help page: « votre établissement … pourra réinitialiser votre mot de passe »).
Students only: no access to other teachers or to the admin account (the rule is
idp.services.accounts.reset_student_password's, checked with the reset)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.accounts import logins
from idp.accounts.roles import Role
from idp.directory import EstablishmentView
from idp.errors import Forbidden
from idp.i18n import N_, Message
from idp.models import Establishment, User
from idp.security.csrf import FIELD, CsrfCheck
from idp.services import accounts
from idp.store import users
from idp.web import flash
from idp.web.forms import check_csrf, csrf_token, current_session, finish
from idp.web.messages import EXPIRED
from idp.web.navigation import Viewer
from idp.web.pages import resolve_open
from idp.web.rendering import PARIS, render, url
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


def _listing(request: Request) -> tuple[str, int]:
    """The list's search and page, from the address."""
    return request.query_params.get("q", "")[:100], _number(request.query_params.get("page"))


def _number(raw: object) -> int:
    try:
        return min(max(1, int(str(raw or "1"))), 100_000)
    except ValueError:
        return 1


def _back(request: Request, code: str, query: str, number: int) -> str:
    kept = {k: v for k, v in (("q", query), ("page", str(number))) if v and v != "1"}
    return url(request, "students", kept or None, code=code)


async def page(
    request: Request,
    *,
    error: Message | None = None,
    status_code: int = 200,
) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    session = await _teacher(request, establishment)
    if isinstance(session, Response):
        return session
    query, number = _listing(request)
    notice, flashed_error = flash.taken(request, establishment.code)

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
        return [Pupil.of(u) for u in found], total

    rows, total = await run_in_threadpool(load)
    response = render(
        request,
        "students.html",
        status_code=status_code,
        establishment=establishment,
        viewer=Viewer.of(session.user),
        rows=rows,
        total=total,
        query=query,
        page=number,
        pages=max(1, (total + PAGE - 1) // PAGE),
        notice=notice,
        error=error or flashed_error,
        paris=PARIS,
    )
    return finish(request, response)


@dataclass(frozen=True)
class Pupil:
    """A row of the list: who, their class, and whether their password still needs them."""

    login: str
    first_name: str
    last_name: str
    groups: list[str]
    state: str
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> Pupil:
        return cls(
            user.login,
            user.first_name,
            user.last_name,
            user.class_names,
            user.password_state,
            user.last_login_at,
        )


async def confirm(request: Request) -> Response:
    """The confirmation a reset asks for: one tap in a list is too easily the wrong pupil."""
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    session = await _teacher(request, establishment)
    if isinstance(session, Response):
        return session
    query, number = _listing(request)
    login = request.query_params.get("login", "")[:100]

    def load():  # type: ignore[no-untyped-def]
        work = db(request)
        found = users.by_login(
            work, work.get(Establishment, establishment.id), logins.normalise_typed(login)
        )
        return Pupil.of(found) if found is not None and found.role is Role.STUDENT else None

    pupil = await run_in_threadpool(load)
    if pupil is None:
        return await page(request, status_code=404, error=Message(accounts.STUDENTS_ONLY))
    response = render(
        request,
        "students_reset.html",
        establishment=establishment,
        viewer=Viewer.of(session.user),
        student=pupil,
        query=query,
        page=number,
        back=_back(request, establishment.code, query, number),
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
    back = _back(
        request, establishment.code, str(form.get("q", ""))[:100], _number(form.get("page"))
    )
    rt = request.app.state.runtime
    try:
        await run_in_threadpool(
            lambda: accounts.reset_student_password(
                rt, db(request), establishment.code, login, teacher_login=session.user.login
            )
        )
    except Forbidden as exc:
        return await page(request, status_code=exc.status_code, error=exc.public)
    return flash.redirect(
        request,
        back,
        establishment.code,
        notice=Message(
            N_(
                "Le mot de passe de %(login)s est de nouveau sa date de naissance (jjmmaaaa). "
                "L'élève devra le changer à sa prochaine connexion."
            ),
            {"login": login},
        ),
    )
