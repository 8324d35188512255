"""`/{code}/admin/users…`: list, search, create, edit, deactivate, delete, reset."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp import slips
from idp.accounts.roles import PERSON_ROLES, Role
from idp.db import release
from idp.errors import IdpError, InvalidInput
from idp.i18n import N_, Message
from idp.models import Establishment, User
from idp.services import accounts, recovery
from idp.store import sessions, throttles, users
from idp.web import flash, handouts
from idp.web.admin.guard import Admin, admin, page, posted
from idp.web.client_ip import client_ip
from idp.web.messages import EXPIRED
from idp.web.navigation import Viewer
from idp.web.rendering import url
from idp.web.transactions import db

PAGE = 50
ROLES = [r.value for r in (*PERSON_ROLES, Role.ADMIN)]


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    try:
        number = min(max(1, int(q.get("page", "1"))), 100_000)
    except ValueError:
        number = 1
    role = q.get("role", "")
    active = q.get("active", "")
    state = q.get("state", "")
    return {
        "q": q.get("q", "")[:100],
        "role": role if role in ROLES else "",
        "active": active if active in ("yes", "no") else "",
        "state": state if state in ("initial", "initial_slip", "temporary", "personal") else "",
        "page": number,
    }


async def index(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    f = _filters(request)

    def load():  # type: ignore[no-untyped-def]
        session = db(request)
        found, total = users.search(
            session,
            session.get(Establishment, who.establishment.id),
            roles=[Role(f["role"])] if f["role"] else list(Role),
            query=f["q"],
            active={"yes": True, "no": False}.get(f["active"]),
            state=f["state"] or None,
            offset=(f["page"] - 1) * PAGE,
            limit=PAGE,
        )
        return [_row(u) for u in found], total

    rows, total = await run_in_threadpool(load)
    return page(
        request,
        who,
        "admin/users.html",
        rows=rows,
        total=total,
        filters=f,
        pages=max(1, (total + PAGE - 1) // PAGE),
    )


def _row(user: User) -> dict[str, Any]:
    return {
        "login": user.login,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role.value,
        "groups": user.class_names,
        "other_groups": user.group_names,
        "active": user.active,
        "state": user.password_state,
        "last_login_at": user.last_login_at,
    }


async def new(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    return page(request, who, "admin/user_form.html", user=None, values={})


async def create(request: Request) -> Response:
    who, form = await posted(request)
    if isinstance(who, Response):
        return who
    if not form["_csrf_ok"]:
        return page(request, who, "admin/user_form.html", user=None, values=form, error=EXPIRED)
    rt = request.app.state.runtime

    def add() -> tuple[str, slips.Handout | None]:
        made = accounts.add(rt, db(request), who.establishment.code, actor=who.login, **values)
        password = made.password
        return made.user.login, None if password is None else slips.Handout.of(made.user, password)

    try:
        values = _person(form)
        login, handed = await run_in_threadpool(add)
    except IdpError as exc:
        return page(
            request,
            who,
            "admin/user_form.html",
            user=None,
            values=form,
            status_code=400,
            error=exc.public,
        )
    if handed is not None:
        return _handed_out(request, who, handed)
    return RedirectResponse(
        url(
            request,
            "admin_user",
            {"created": "1"},
            code=who.establishment.code,
            login=login,
        ),
        status_code=303,
    )


def _handed_out(request: Request, who: Admin, handed: slips.Handout) -> Response:
    """A random initial password (the establishment's choice): its slip, this once."""
    back = url(request, "admin_user", code=who.establishment.code, login=handed.login)
    return handouts.sheet(
        request, who.establishment, Viewer.of(who.session.user), [handed], back=back
    )


def _person(form: dict[str, Any]) -> dict[str, Any]:
    try:
        born = date.fromisoformat(str(form.get("birth_date", "")).strip())
    except ValueError:
        raise InvalidInput("Date de naissance invalide.", detail="bad birth date") from None
    role = str(form.get("role", "student"))
    if role not in [r.value for r in PERSON_ROLES]:
        raise InvalidInput("Rôle invalide.", detail=f"bad role {role!r}")
    groups = [g.strip() for g in str(form.get("groups", "")).split(",") if g.strip()]
    return {
        "first_name": str(form.get("first_name", "")),
        "last_name": str(form.get("last_name", "")),
        "birth_date": born,
        "role": Role(role),
        "email": str(form.get("email", "")).strip() or None,
        "groups": groups,
    }


def _detail(session, rt, who: Admin, login: str):  # type: ignore[no-untyped-def]
    now = rt.clock.now()
    establishment = session.get(Establishment, who.establishment.id)
    user = users.by_login(session, establishment, login)
    if user is None:
        return None
    throttle = throttles.get(session, throttles.account_scope(user.id))
    live = sessions.live_of_user(session, establishment, user.id, now=now)
    return {
        **_row(user),
        "birth_date": user.birth_date,
        "email": user.email,
        "email_verified": user.email_verified,
        "created_at": user.created_at,
        "failures": throttle.failures if throttle else 0,
        "blocked_until": throttle.blocked_until
        if throttle and throttle.blocked_until and throttle.blocked_until > now
        else None,
        "sessions": len(live),
        "temporary_pending": user.temp_password_hash is not None
        and user.temp_password_expires_at is not None
        and user.temp_password_expires_at > now,
    }


async def show(
    request: Request,
    *,
    notice: Message | None = None,
    error: Message | None = None,
    status_code: int = 200,
) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    user = await run_in_threadpool(_detail, db(request), rt, who, request.path_params["login"])
    if user is None:
        return page(request, who, "admin/not_found.html", status_code=404)
    if notice is None and request.query_params.get("created") == "1":
        notice = Message(
            N_(
                "Compte créé. Identifiant : %(login)s ; "
                "mot de passe initial : la date de naissance."
            ),
            {"login": user["login"]},
        )
    return page(
        request,
        who,
        "admin/user.html",
        user=user,
        notice=notice,
        error=error,
        status_code=status_code,
    )


async def edit(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    user = await run_in_threadpool(_detail, db(request), rt, who, request.path_params["login"])
    if user is None or user["role"] == "admin":
        return page(request, who, "admin/not_found.html", status_code=404)
    values = {
        **user,
        "groups": ", ".join(user["groups"]),
        "birth_date": user["birth_date"].isoformat(),
    }
    return page(request, who, "admin/user_form.html", user=user, values=values)


async def update(request: Request) -> Response:
    who, form = await posted(request)
    if isinstance(who, Response):
        return who
    login = request.path_params["login"]
    rt = request.app.state.runtime
    if not form["_csrf_ok"]:
        return page(
            request, who, "admin/user_form.html", user={"login": login}, values=form, error=EXPIRED
        )
    try:
        values = _person(form)
        await run_in_threadpool(
            lambda: accounts.update(
                rt, db(request), who.establishment.code, login, actor=who.login, **values
            )
        )
    except IdpError as exc:
        return page(
            request,
            who,
            "admin/user_form.html",
            user={"login": login},
            values=form,
            status_code=400,
            error=exc.public,
        )
    return _done(request, Message(N_("Modifications enregistrées.")))


def _done(request: Request, notice: Message) -> Response:
    """After a change, back to the account's page, which says it once: reloading that page
    sends nothing again."""
    code, login = request.path_params["code"], request.path_params["login"]
    target = url(request, "admin_user", code=code, login=login)
    return flash.redirect(request, target, code, notice=notice)


# The buttons that ask first: each changes what the person can do at once.
CONFIRMED = ("reset", "send-temporary", "deactivate")


async def confirm(request: Request) -> Response:
    """The question a button of CONFIRMED asks before its POST."""
    who = await admin(request)
    if isinstance(who, Response):
        return who
    name = request.path_params["action"]
    rt = request.app.state.runtime
    user = await run_in_threadpool(_detail, db(request), rt, who, request.path_params["login"])
    if user is None or name not in CONFIRMED or (name == "send-temporary" and not user["email"]):
        return page(request, who, "admin/not_found.html", status_code=404)
    return page(request, who, "admin/user_confirm.html", user=user, action=name)


async def action(request: Request) -> Response:
    """One of the buttons of the account page: activate, deactivate, reset, send a
    temporary password, unblock, delete."""
    who, form = await posted(request)
    if isinstance(who, Response):
        return who
    if not form["_csrf_ok"]:
        return await show(request, error=EXPIRED)
    rt = request.app.state.runtime
    code, login = who.establishment.code, request.path_params["login"]
    name = request.path_params["action"]
    try:
        if name in ("activate", "deactivate"):
            await run_in_threadpool(
                lambda: accounts.set_active(
                    rt, db(request), code, login, name == "activate", actor=who.login
                )
            )
            return _done(
                request,
                Message(
                    N_("Compte réactivé.")
                    if name == "activate"
                    else N_("Compte désactivé : ses sessions sont fermées.")
                ),
            )
        if name == "reset":

            def reset_it() -> tuple[accounts.Reset, slips.Handout | None]:
                done = accounts.reset_password(rt, db(request), code, login, actor=who.login)
                handed = (
                    None if done.password is None else slips.Handout.of(done.user, done.password)
                )
                return done, handed

            reset, handed = await run_in_threadpool(reset_it)
            if handed is not None:
                return _handed_out(request, who, handed)
            if reset.mailed_to:
                return _done(
                    request,
                    Message(
                        N_("Un nouveau mot de passe provisoire a été envoyé à %(address)s."),
                        {"address": reset.mailed_to},
                    ),
                )
            return _done(
                request,
                Message(
                    N_(
                        "Le mot de passe est de nouveau la date de naissance ; "
                        "il devra être changé à la prochaine connexion."
                    )
                ),
            )
        if name == "send-temporary":
            return await _send_temporary(request, who, login)
        if name == "unblock":
            await run_in_threadpool(
                lambda: accounts.clear_throttling(rt, db(request), code, login, actor=who.login)
            )
            return _done(
                request, Message(N_("Le compteur d'échecs de connexion est remis à zéro."))
            )
        if name == "delete":
            if form.get("confirm") != login:
                return await show(
                    request,
                    status_code=400,
                    error=Message(N_("Pour supprimer, recopiez l'identifiant du compte.")),
                )
            await run_in_threadpool(
                lambda: accounts.delete(rt, db(request), code, login, actor=who.login)
            )
            return RedirectResponse(
                url(request, "admin_users", {"deleted": login}, code=code), status_code=303
            )
    except IdpError as exc:
        return await show(request, status_code=exc.status_code, error=exc.public)
    return await show(request, status_code=404)


async def _send_temporary(request: Request, who: Admin, login: str) -> Response:
    rt = request.app.state.runtime
    ip = client_ip(request, request.app.state.settings.trusted_proxies)
    # Made before the unit of work goes on: no transaction stays open while it is hashed.
    await release(db(request))
    temporary = await recovery.new_temporary(rt.hasher)
    result = await run_in_threadpool(
        lambda: recovery.send_temporary_password(
            rt, db(request), who.establishment.code, login, temporary, ip=ip, actor=who.login
        )
    )
    if result.outcome is recovery.Outcome.SENT:
        return _done(
            request,
            Message(
                N_("Un nouveau mot de passe temporaire a été envoyé à %(address)s"),
                {"address": result.masked_email},
            ),
        )
    if result.outcome is recovery.Outcome.MAIL_FAILED:
        return await show(
            request,
            status_code=503,
            error=Message(N_("Le courriel n'a pas pu être envoyé. Veuillez réessayer plus tard.")),
        )
    return await show(
        request,
        status_code=429,
        error=Message(
            N_("Un courriel vient déjà d'être envoyé à ce compte. Réessayez dans quelques minutes.")
        ),
    )
