"""A message for the page a POST redirects to (POST, redirect, GET: reloading the result
page sends nothing again). It travels in a signed cookie that lives a minute, names the
establishment it was made for, and is read once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse

from idp.i18n import Message
from idp.security.signing import Expired, Invalid
from idp.web.forms import cookies, finish

FLASH_SECONDS = 60


def redirect(
    request: Request,
    target: str,
    code: str,
    *,
    notice: Message | None = None,
    error: Message | None = None,
) -> RedirectResponse:
    """303 to `target`, which shows `notice` (or `error`) once."""
    response = RedirectResponse(target, status_code=303)
    said = notice or error
    if said is not None:
        kind = "notice" if notice is not None else "error"
        value = request.app.state.flash_signer.sign([code, kind, said.text, dict(said.params)])
        jar = cookies(request)
        jar.set(response, jar.flash, value, max_age=FLASH_SECONDS)
    request.state.flash_taken = False  # the new message is not the one read before
    finish(request, response)
    return response


def taken(request: Request, code: str) -> tuple[Message | None, Message | None]:
    """(notice, error) the previous response left for this page of `code`; `finish` then
    deletes the cookie."""
    raw = request.cookies.get(cookies(request).flash)
    if raw is None:
        return None, None
    request.state.flash_taken = True
    try:
        value = request.app.state.flash_signer.unsign(raw, max_age=FLASH_SECONDS)
        made_for, kind, text, params = value
    except (Expired, Invalid, TypeError, ValueError):
        return None, None
    if made_for != code or not isinstance(text, str) or not isinstance(params, dict):
        return None, None
    message = Message(text, params)
    return (message, None) if kind == "notice" else (None, message)
