"""`/{code}/admin/clients…`: the modules (relying parties) of the establishment."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.errors import IdpError, NotFound
from idp.i18n import N_, Message
from idp.models import Client, Establishment
from idp.oauth.scopes import SCOPES
from idp.security.encryption import DecryptionError
from idp.services import clients
from idp.store import clients as client_store
from idp.web.admin.guard import Admin, admin, page, posted
from idp.web.messages import EXPIRED
from idp.web.rendering import url
from idp.web.transactions import db


def _lines(value: Any) -> list[str]:
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]


def _view(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.public,
        "auth_method": client.token_endpoint_auth_method,
        "third_party": client.third_party,
        "enabled": client.enabled,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "id_token_alg": client.id_token_signed_response_alg,
        "created_at": client.created_at,
        "scopes": client.allowed_scopes if client.allowed_scopes is not None else list(SCOPES),
    }


def _context(rt, who: Admin) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    issuer = rt.settings.issuer(who.establishment.code)
    return {"issuer": issuer, "discovery": f"{issuer}/.well-known/openid-configuration"}


async def index(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime

    def load():  # type: ignore[no-untyped-def]
        session = db(request)
        return [
            _view(c)
            for c in client_store.all_of(session, session.get(Establishment, who.establishment.id))
        ]

    return page(
        request, who, "admin/clients.html", rows=await run_in_threadpool(load), **_context(rt, who)
    )


async def new(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    return page(
        request,
        who,
        "admin/client_form.html",
        client=None,
        values={"kind": "confidential", "scopes": list(SCOPES)},
    )


async def create(request: Request) -> Response:
    who, form = await posted(request)
    if isinstance(who, Response):
        return who
    if not form["_csrf_ok"]:
        return page(
            request,
            who,
            "admin/client_form.html",
            client=None,
            values={**form, "scopes": form["_lists"].get("scopes", [])},
            error=EXPIRED,
        )
    rt = request.app.state.runtime
    try:
        created = await run_in_threadpool(
            lambda: clients.add(
                rt,
                db(request),
                who.establishment.code,
                name=str(form.get("name", "")),
                redirect_uris_=_lines(form.get("redirect_uris")),
                post_logout_redirect_uris=_lines(form.get("post_logout_redirect_uris")),
                backchannel_logout_uri=str(form.get("backchannel_logout_uri", "")).strip() or None,
                public=form.get("kind") == "public",
                third_party=form.get("third_party") == "1",
                id_token_alg=str(form.get("id_token_alg", "RS256")),
                allowed_scopes=[str(v) for v in form["_lists"].get("scopes", [])],
                actor=who.login,
            )
        )
    except IdpError as exc:
        return page(
            request,
            who,
            "admin/client_form.html",
            client=None,
            values={**form, "scopes": form["_lists"].get("scopes", [])},
            status_code=400,
            error=exc.public,
        )
    return _reveal(request, who, created.client.client_id, created.secret, "created")


def _load(session, rt, who: Admin, client_id: str) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    client = client_store.by_client_id(
        session, session.get(Establishment, who.establishment.id), client_id
    )
    return _view(client) if client else None


REVEAL_SECONDS = 120
NOTICES = {
    "created": N_("Application enregistrée."),
    "rotated": N_("Nouveau secret : l'ancien ne fonctionne plus."),
}


def _reveal(
    request: Request, who: Admin, client_id: str, secret: str | None, what: str
) -> Response:
    """After a POST that made a secret: redirect (a reload must not register the module
    twice) and carry the secret to the next page only, encrypted in a short-lived cookie
    scoped to that page and deleted once shown."""
    code = who.establishment.code
    response = RedirectResponse(
        url(request, "admin_client", {"done": what}, code=code, client_id=client_id),
        status_code=303,
    )
    if secret:
        sealed = request.app.state.reveal_cipher.encrypt(secret.encode(), client_id.encode())
        response.set_cookie(
            _reveal_cookie(request),
            sealed,
            max_age=REVEAL_SECONDS,
            path=url(request, "admin_client", code=code, client_id=client_id),
            secure=request.app.state.cookies.https,
            httponly=True,
            samesite="strict",
        )
    return response


def _reveal_cookie(request: Request) -> str:
    return request.app.state.cookies.name("cpro_reveal")


def _take_secret(request: Request, client_id: str) -> str | None:
    sealed = request.cookies.get(_reveal_cookie(request))
    if not sealed:
        return None
    try:
        return request.app.state.reveal_cipher.decrypt(sealed, client_id.encode()).decode()
    except DecryptionError:
        return None


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
    client_id = request.path_params["client_id"]
    client = await run_in_threadpool(_load, db(request), rt, who, client_id)
    if client is None:
        return page(request, who, "admin/not_found.html", status_code=404)
    secret = _take_secret(request, client_id)
    if notice is None and request.query_params.get("done") in NOTICES:
        notice = Message(NOTICES[request.query_params["done"]])
    response = page(
        request,
        who,
        "admin/client.html",
        client=client,
        secret=secret,
        notice=notice,
        error=error,
        status_code=status_code,
        **_context(rt, who),
    )
    if secret is not None:
        # Shown once: the cookie goes with this page.
        response.delete_cookie(
            _reveal_cookie(request),
            path=url(request, "admin_client", code=who.establishment.code, client_id=client_id),
        )
    return response


async def edit(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    client = await run_in_threadpool(_load, db(request), rt, who, request.path_params["client_id"])
    if client is None:
        return page(request, who, "admin/not_found.html", status_code=404)
    values = {
        **client,
        "scopes": client["scopes"],
        "redirect_uris": "\n".join(client["redirect_uris"]),
        "post_logout_redirect_uris": "\n".join(client["post_logout_redirect_uris"]),
        "backchannel_logout_uri": client["backchannel_logout_uri"] or "",
        "third_party": "1" if client["third_party"] else "",
    }
    return page(request, who, "admin/client_form.html", client=client, values=values)


async def update(request: Request) -> Response:
    who, form = await posted(request)
    if isinstance(who, Response):
        return who
    client_id = request.path_params["client_id"]
    rt = request.app.state.runtime
    if not form["_csrf_ok"]:
        return await show(request, error=EXPIRED)
    try:
        await run_in_threadpool(
            lambda: clients.update(
                rt,
                db(request),
                who.establishment.code,
                client_id,
                name=str(form.get("name", "")),
                redirect_uris_=_lines(form.get("redirect_uris")),
                post_logout_redirect_uris=_lines(form.get("post_logout_redirect_uris")),
                backchannel_logout_uri=str(form.get("backchannel_logout_uri", "")).strip() or None,
                third_party=form.get("third_party") == "1",
                id_token_alg=str(form.get("id_token_alg", "RS256")),
                allowed_scopes=[str(v) for v in form["_lists"].get("scopes", [])],
                actor=who.login,
            )
        )
    except IdpError as exc:
        client = await run_in_threadpool(_load, db(request), rt, who, client_id)
        if client is None:
            # No such module (or deleted meanwhile), whatever else was wrong: a 404.
            raise NotFound("Application inconnue.", detail=f"unknown client {client_id!r}") from exc
        return page(
            request,
            who,
            "admin/client_form.html",
            client=client,
            values={**form, "scopes": form["_lists"].get("scopes", [])},
            status_code=exc.status_code,
            error=exc.public,
        )
    return await show(request, notice=Message(N_("Modifications enregistrées.")))


async def action(request: Request) -> Response:
    who, form = await posted(request)
    if isinstance(who, Response):
        return who
    if not form["_csrf_ok"]:
        return await show(request, error=EXPIRED)
    rt = request.app.state.runtime
    code, client_id = who.establishment.code, request.path_params["client_id"]
    name = request.path_params["action"]
    try:
        if name == "rotate-secret":
            secret = await run_in_threadpool(
                lambda: clients.rotate_secret(rt, db(request), code, client_id, actor=who.login)
            )
            return _reveal(request, who, client_id, secret, "rotated")
        if name in ("enable", "disable"):
            await run_in_threadpool(
                lambda: clients.set_enabled(
                    rt, db(request), code, client_id, name == "enable", actor=who.login
                )
            )
            return await show(
                request,
                notice=Message(
                    N_("Application réactivée.")
                    if name == "enable"
                    else N_("Application désactivée.")
                ),
            )
        if name == "delete":
            if form.get("confirm") != "delete":
                return await show(
                    request,
                    status_code=400,
                    error=Message(N_("Cochez la case pour confirmer la suppression.")),
                )
            await run_in_threadpool(
                lambda: clients.delete(rt, db(request), code, client_id, actor=who.login)
            )
            return RedirectResponse(
                url(request, "admin_clients", {"deleted": client_id}, code=code), status_code=303
            )
    except IdpError as exc:
        return await show(request, status_code=exc.status_code, error=exc.public)
    return await show(request, status_code=404)
