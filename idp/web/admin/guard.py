"""Who may see the console: the admin account of this establishment, signed in here.

Anonymous, or signed in only at another establishment: 303 to this establishment's login
page, and back after sign-in. Signed in here without the admin role: a 403 page, never a
redirect (a teacher's page is /{code}/students)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from python_multipart.multipart import parse_options_header
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.accounts.roles import Role
from idp.directory import EstablishmentView
from idp.i18n import N_, Message
from idp.models import SsoSession
from idp.security.csrf import FIELD, CsrfCheck
from idp.web import flash
from idp.web.forms import check_csrf, csrf_token, current_session, finish
from idp.web.navigation import Viewer
from idp.web.pages import resolve_open
from idp.web.rendering import PARIS, render, url

# The console shows times as the school lives them.


@dataclass(frozen=True)
class Admin:
    establishment: EstablishmentView
    session: SsoSession

    @property
    def login(self) -> str:
        return self.session.user.login


async def admin(request: Request) -> Admin | Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    session = await current_session(request, establishment.id, establishment.code)
    if session is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(
            url(request, "login", {"next": here}, code=establishment.code), status_code=303
        )
    if session.user.role is not Role.ADMIN:
        return render(
            request, "errors/forbidden.html", status_code=403, establishment=establishment
        )
    return Admin(establishment, session)


async def posted(request: Request) -> tuple[Admin | Response, dict[str, Any]]:
    """For a POST: the admin and the form, or a response (no session, wrong role, or a
    stale CSRF token: the page it came from is shown again by the caller)."""
    who = await admin(request)
    if not await _complete(request):
        return (
            render(
                request,
                "errors/error.html",
                status_code=400,
                status=400,
                message=Message(N_("Le formulaire n'a pas été reçu en entier : réessayez.")),
            ),
            {},
        )
    form = await request.form()
    if isinstance(who, Response):
        return who, {}
    values = {k: v for k, v in form.multi_items()}
    values["_lists"] = {k: form.getlist(k) for k in form}
    values["_csrf_ok"] = await check_csrf(request, str(form.get(FIELD, "")) or None) is CsrfCheck.OK
    return who, values


async def _complete(request: Request) -> bool:
    """False for a multipart body cut short (no closing boundary): Starlette's parser then
    returns the form without the last part, and leaves that part's temporary file open for
    the garbage collector. The body is at most the import's 10 MiB (BodyLimit)."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        return True
    boundary = options.get(b"boundary")
    return bool(boundary) and b"--" + boundary + b"--" in await request.body()


def page(
    request: Request,
    who: Admin,
    template: str,
    *,
    status_code: int = 200,
    notice: Message | None = None,
    error: Message | None = None,
    **context: Any,
) -> Response:
    if notice is None and error is None:
        notice, error = flash.taken(request, who.establishment.code)
    response = render(
        request,
        template,
        status_code=status_code,
        establishment=who.establishment,
        admin=who,
        viewer=Viewer.of(who.session.user),
        notice=notice,
        error=error,
        csrf_field=FIELD,
        csrf_token=csrf_token(request),
        paris=PARIS,
        **context,
    )
    return finish(request, response)
