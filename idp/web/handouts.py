"""The sheet of sign-in slips that carries new initial passwords (a reset, new accounts or
incident mode, idp.slips): answered once, never stored or cached; nothing keeps these
passwords in clear, so this page is the only place they are ever shown."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idp import slips
from idp.directory import EstablishmentView
from idp.i18n import Message
from idp.models import Establishment
from idp.web.navigation import Viewer
from idp.web.rendering import render


def sheet(
    request: Request,
    establishment: Establishment | EstablishmentView,
    viewer: Viewer,
    handouts: list[slips.Handout],
    *,
    back: str | None,
    incident: object | None = None,
    summary: Message | None = None,
    logins_url: str | None = None,
    status_code: int = 200,
) -> Response:
    """`summary`: what made these accounts (an import's counts), said above the slips;
    `logins_url`: where the list of their logins is (an import's, without passwords)."""
    sign_in = request.app.state.runtime.urls.public("login", code=establishment.code)
    return render(
        request,
        "slips.html",
        status_code=status_code,
        no_store=True,
        establishment=establishment,
        viewer=viewer,
        slips=slips.for_handouts(establishment.name, sign_in, handouts),
        incident=incident,
        handed_out=True,
        summary=summary,
        logins_url=logins_url,
        provisional_days=request.app.state.runtime.settings.provisional_password_days,
        pdf_url=None,
        back=back,
        **slips.words(),
    )
