"""`/{code}/students`: the teachers' page. The establishment's pupils by class, each with
the state of their password (never signed in, personalised, temporary password pending,
blocked now) and their last sign-in; a teacher resets one pupil, a selection or a whole
class to the initial value (help page: « votre établissement … pourra réinitialiser votre
mot de passe »), after a confirmation: the birth date, or where the establishment chose
them, new random initial passwords whose slips the answer shows once; and prints sign-in
slips for any selection (idp.slips). Students only: no access to other teachers or to the admin
account (the rule is idp.services.accounts.reset_student_password's, checked with the
reset)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp import slips
from idp.accounts import logins
from idp.accounts.initial_passwords import InitialPasswords
from idp.accounts.roles import Role
from idp.directory import EstablishmentView
from idp.errors import Forbidden
from idp.i18n import N_, Message, translations
from idp.models import Establishment, User
from idp.security.csrf import FIELD, CsrfCheck
from idp.services import accounts
from idp.store import throttles, users
from idp.web import flash, handouts
from idp.web.forms import check_csrf, csrf_token, current_session, finish
from idp.web.messages import EXPIRED
from idp.web.navigation import Viewer
from idp.web.pages import resolve_open
from idp.web.rendering import PARIS, locale_of, render, url
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


def _class_of(request: Request) -> str:
    return request.query_params.get("classe", "")[:100]


def _number(raw: object) -> int:
    try:
        return min(max(1, int(str(raw or "1"))), 100_000)
    except ValueError:
        return 1


def _back(request: Request, code: str, query: str, number: int, class_name: str = "") -> str:
    kept = {
        k: v
        for k, v in (("classe", class_name), ("q", query), ("page", str(number)))
        if v and v != "1"
    }
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
    class_name = _class_of(request)
    notice, flashed_error = flash.taken(request, establishment.code)
    now = request.app.state.runtime.clock.now()

    def load():  # type: ignore[no-untyped-def]
        work = db(request)
        school = work.get(Establishment, establishment.id)
        if class_name:
            found = users.students(work, school, class_name=class_name)
            total = len(found)
        else:
            found, total = users.search(
                work,
                school,
                roles=[Role.STUDENT],
                query=query,
                offset=(number - 1) * PAGE,
                limit=PAGE,
            )
        blocked = throttles.blocked_accounts(work, [u.id for u in found], now)
        rows = [Pupil.of(u, now=now, blocked=u.id in blocked) for u in found]
        return rows, total, users.classes(work, school)

    rows, total, classes = await run_in_threadpool(load)
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
        pages=1 if class_name else max(1, (total + PAGE - 1) // PAGE),
        classes=classes,
        class_name=class_name,
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
    # A temporary password sent by email and not used yet; sign-in refused for now.
    temporary_pending: bool = False
    blocked: bool = False
    active: bool = True
    # A random initial password past its IDP_PROVISIONAL_PASSWORD_DAYS: sign-in refuses it.
    initial_expired: bool = False

    @classmethod
    def of(cls, user: User, *, now: datetime | None = None, blocked: bool = False) -> Pupil:
        pending = (
            now is not None
            and user.temp_password_hash is not None
            and user.temp_password_expires_at is not None
            and user.temp_password_expires_at > now
        )
        return cls(
            user.login,
            user.first_name,
            user.last_name,
            user.class_names,
            user.password_state,
            user.last_login_at,
            temporary_pending=pending,
            blocked=blocked,
            active=user.active,
            initial_expired=(
                now is not None
                and user.password_expires_at is not None
                and user.password_expires_at <= now
            ),
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
    class_name = _class_of(request)
    chosen = await run_in_threadpool(_chosen, request, establishment)
    if chosen is None:
        return await page(request, status_code=404, error=Message(accounts.STUDENTS_ONLY))
    if not chosen:
        return await page(request, status_code=400, error=Message(N_("Cochez au moins un élève.")))
    response = render(
        request,
        "students_reset.html",
        establishment=establishment,
        viewer=Viewer.of(session.user),
        students=chosen,
        student=chosen[0],
        class_name=class_name,
        whole_class=request.query_params.get("all") == "1",
        query=query,
        page=number,
        back=_back(request, establishment.code, query, number, class_name),
        csrf_field=FIELD,
        csrf_token=csrf_token(request),
    )
    return finish(request, response)


MAX_CHOSEN = 200


def _chosen(request: Request, establishment: EstablishmentView) -> list[Pupil] | None:
    """The pupils a teacher chose: `login` (repeated) or, with `all=1`, the whole `classe`.
    None when a login is not one of the establishment's active pupils."""
    work = db(request)
    school = work.get(Establishment, establishment.id)
    params = request.query_params
    if params.get("all") == "1" and _class_of(request):
        return [Pupil.of(u) for u in users.students(work, school, class_name=_class_of(request))]
    wanted = list(
        dict.fromkeys(logins.normalise_typed(v[:100]) for v in params.getlist("login") if v)
    )[:MAX_CHOSEN]
    found = users.students(work, school, logins=wanted)
    if len(found) != len(wanted):
        return None
    return [Pupil.of(u) for u in found]


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
    chosen = [str(v)[:100] for v in form.getlist("login") if v][:MAX_CHOSEN]
    back = _back(
        request,
        establishment.code,
        str(form.get("q", ""))[:100],
        _number(form.get("page")),
        str(form.get("classe", ""))[:100],
    )
    rt = request.app.state.runtime
    if not chosen:
        return await page(request, status_code=400, error=Message(N_("Cochez au moins un élève.")))
    supply = None
    if establishment.initial_passwords is InitialPasswords.RANDOM:
        # Hashed before the reset's transaction begins: it holds SQLite's write lock.
        supply = await run_in_threadpool(accounts.Supply.ahead, rt, len(set(chosen)))

    def reset_them() -> list[slips.Handout]:
        done = accounts.reset_students(
            rt, db(request), establishment.code, chosen, teacher_login=session.user.login,
            supply=supply,
        )  # fmt: skip
        return [slips.Handout.of(r.user, r.password) for r in done if r.password is not None]

    try:
        handed = await run_in_threadpool(reset_them)
    except Forbidden as exc:
        await run_in_threadpool(db(request).rollback)
        return await page(request, status_code=exc.status_code, error=exc.public)
    if handed:
        # Random initial passwords: their slips, this once.
        return handouts.sheet(request, establishment, Viewer.of(session.user), handed, back=back)
    if len(chosen) == 1:
        notice = Message(
            N_(
                "Le mot de passe de %(login)s est de nouveau sa date de naissance (jjmmaaaa). "
                "L'élève devra le changer à sa prochaine connexion."
            ),
            {"login": chosen[0]},
        )
    else:
        notice = Message(
            N_(
                "%(count)s mots de passe sont de nouveau la date de naissance (jjmmaaaa) de "
                "chaque élève. Chacun devra changer le sien à sa prochaine connexion."
            ),
            {"count": len(chosen)},
        )
    return flash.redirect(request, back, establishment.code, notice=notice)


async def _slip_data(request: Request):  # type: ignore[no-untyped-def]
    """The teacher, and the slips of the chosen pupils (or a Response to send instead)."""
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment, None
    session = await _teacher(request, establishment)
    if isinstance(session, Response):
        return session, None
    chosen = await run_in_threadpool(_chosen, request, establishment)
    if not chosen:
        none = N_("Cochez au moins un élève.")
        error = Message(accounts.STUDENTS_ONLY if chosen is None else none)
        return await page(request, status_code=404 if chosen is None else 400, error=error), None
    rt = request.app.state.runtime
    sign_in = rt.urls.public("login", code=establishment.code)
    made = [
        slips.Slip.of(
            establishment.name,
            sign_in,
            p.login,
            f"{p.first_name} {p.last_name}",
            ", ".join(p.groups),
            birth_date_rule=slips.uses_birth_date(p.state, establishment.initial_passwords),
        )
        for p in chosen
    ]
    return (establishment, session), made


async def slips_page(request: Request) -> Response:
    """The slips as a page to print (its print stylesheet drops everything else)."""
    who, made = await _slip_data(request)
    if made is None:
        return who  # type: ignore[no-any-return]
    establishment, session = who
    response = render(
        request,
        "slips.html",
        establishment=establishment,
        viewer=Viewer.of(session.user),
        slips=made,
        incident=None,
        handed_out=False,
        **slips.words(),
        pdf_url=url(request, "students_slips_pdf", code=establishment.code)
        + ("?" + request.url.query if request.url.query else ""),
        back=_back(request, establishment.code, "", 1, _class_of(request)),
    )
    return finish(request, response)


async def slips_pdf(request: Request) -> Response:
    who, made = await _slip_data(request)
    if made is None:
        return who  # type: ignore[no-any-return]
    establishment, _ = who
    say = translations(locale_of(request)).gettext
    texts = {key: say(text) for key, text in slips.words().items()}
    texts.update(address=say(N_("Adresse")), login=say(N_("Identifiant")))
    title = say(N_("Fiches de connexion"))
    data = await run_in_threadpool(slips.pdf, made, texts, f"{title} - {establishment.name}")
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="fiches-connexion.pdf"',
            "Cache-Control": "no-store",
        },
    )
