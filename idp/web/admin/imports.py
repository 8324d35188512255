"""`/{code}/admin/import`: upload a CSV or SIECLE's « Élèves sans adresses » export, see
what it would do, import it all or nothing, download the created logins to hand out (no
passwords: the initial one is the birth date)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from idp import slips
from idp.accounts import siecle
from idp.accounts.imports import MAX_BYTES, parse
from idp.accounts.initial_passwords import InitialPasswords
from idp.accounts.roles import PERSON_ROLES, Role
from idp.db import read
from idp.errors import IdpError
from idp.i18n import N_, Message
from idp.models import Establishment, PendingImport
from idp.security.tokens import new_secret, secret_hash
from idp.services import accounts, imports, register
from idp.store.tenancy import owned
from idp.web import handouts
from idp.web.admin.guard import Admin, admin, page, posted
from idp.web.messages import EXPIRED
from idp.web.navigation import Viewer
from idp.web.rendering import url
from idp.web.transactions import db

KEEP = timedelta(hours=1)


async def upload_page(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    return page(request, who, "admin/import.html", step="upload", role="student")


def _store(session, rt, who: Admin, data: bytes, role: str) -> str:  # type: ignore[no-untyped-def]
    handle = new_secret(24)
    now = rt.clock.now()
    session.add(
        PendingImport(
            establishment_id=who.establishment.id,
            handle_hash=secret_hash(handle),
            data=data,
            role=role,
            created_at=now,
            expires_at=now + KEEP,
        )
    )
    return handle


def _load(session, rt, who: Admin, handle: str) -> PendingImport | None:  # type: ignore[no-untyped-def]
    establishment = session.get(Establishment, who.establishment.id)
    return session.scalar(
        owned(
            PendingImport,
            establishment,
            PendingImport.handle_hash == secret_hash(handle),
            PendingImport.expires_at > rt.clock.now(),
        )
    )


async def preview(request: Request) -> Response:
    who, form = await posted(request)
    if isinstance(who, Response):
        return who
    role = str(form.get("role", "student"))
    role = role if role in [r.value for r in PERSON_ROLES] else "student"
    if not form["_csrf_ok"]:
        return page(request, who, "admin/import.html", step="upload", role=role, error=EXPIRED)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return page(
            request,
            who,
            "admin/import.html",
            step="upload",
            role=role,
            status_code=400,
            error=Message(N_("Choisissez un fichier CSV.")),
        )
    data = await upload.read(siecle.MAX_BYTES + 1)
    await upload.close()
    rt = request.app.state.runtime
    if siecle.looks_like_siecle(data):
        return await _siecle_preview(request, who, data)
    if len(data) > MAX_BYTES:
        data = data[: MAX_BYTES + 1]  # the CSV reader refuses it with its own message
    try:
        parsed = await _parse(request, data, role)
        planned = await _plan(request, who, parsed)
    except IdpError as exc:
        return page(
            request,
            who,
            "admin/import.html",
            step="upload",
            role=role,
            status_code=400,
            error=exc.public,
        )
    handle = await run_in_threadpool(_store, db(request), rt, who, data, role)
    return _preview(request, who, role, handle, parsed, planned)


def _sync(session, rt, who: Admin, data: bytes, *, write: bool, supply=None) -> register.Preview:  # type: ignore[no-untyped-def]
    export = siecle.read(data, uai=who.establishment.uai)
    return register.sync(
        rt, session, who.establishment.code, export, write=write, actor=who.login, supply=supply
    )


async def _supply(request: Request, who: Admin, count) -> accounts.Supply | None:  # type: ignore[no-untyped-def]
    """The new accounts' random initial passwords (the establishment's choice), hashed
    before the import's transaction begins: it holds SQLite's write lock. `count`: a call
    giving how many, run as a read of its own."""
    if who.establishment.initial_passwords is not InitialPasswords.RANDOM:
        return None
    rt = request.app.state.runtime
    return await run_in_threadpool(accounts.Supply.ahead, rt, await read(db(request), count))


async def _siecle_preview(request: Request, who: Admin, data: bytes) -> Response:
    rt = request.app.state.runtime
    try:
        preview = await run_in_threadpool(_sync, db(request), rt, who, data, write=False)
    except IdpError as exc:
        return page(
            request,
            who,
            "admin/import.html",
            step="upload",
            role="student",
            status_code=400,
            error=exc.public,
        )
    handle = await run_in_threadpool(_store, db(request), rt, who, data, "student")
    return page(
        request, who, "admin/import.html", step="siecle", handle=handle, preview=preview,
        leaver_days=rt.settings.leaver_retention_days,
    )  # fmt: skip


async def _siecle_confirm(
    request: Request, who: Admin, pending: PendingImport, handle: str
) -> Response:
    rt = request.app.state.runtime
    session = db(request)
    try:
        supply = await _supply(
            request,
            who,
            lambda: _sync(session, rt, who, pending.data, write=False).to_create,
        )
        preview = await run_in_threadpool(
            lambda: _sync(session, rt, who, pending.data, write=True, supply=supply)
        )
    except IdpError as exc:
        await run_in_threadpool(session.rollback)
        return page(
            request, who, "admin/import.html", step="upload", role="student",
            status_code=exc.status_code, error=exc.public,
        )  # fmt: skip
    if not preview.applied:
        return page(
            request,
            who,
            "admin/import.html",
            step="siecle",
            handle=handle,
            preview=preview,
            leaver_days=rt.settings.leaver_retention_days,
            status_code=400,
            error=Message(N_("Des élèves sont refusés : rien n'a été importé.")),
        )
    created = [(c.login, c.last_name, c.first_name, c.class_code or "") for c in preview.created]
    await run_in_threadpool(_save_created, session, rt, who, handle, imports.created_csv(created))
    if preview.handouts:
        return _sheet(request, who, preview.handouts, preview.counts(), handle)
    return page(
        request, who, "admin/import.html", step="siecle_done", handle=handle, preview=preview,
        leaver_days=rt.settings.leaver_retention_days,
    )  # fmt: skip


async def _parse(request: Request, data: bytes, role: str):  # type: ignore[no-untyped-def]
    rt = request.app.state.runtime
    # Up to 10 MB to read: off the event loop.
    return await run_in_threadpool(
        lambda: parse(data, default_role=Role(role), today=rt.clock.now().date())
    )


async def _plan(request: Request, who: Admin, parsed) -> imports.Plan:  # type: ignore[no-untyped-def]
    rt = request.app.state.runtime
    return await run_in_threadpool(imports.plan, rt, db(request), who.establishment.code, parsed)


def _preview(  # type: ignore[no-untyped-def]
    request: Request,
    who: Admin,
    role: str,
    handle: str,
    parsed,
    planned: imports.Plan,
    *,
    error: Message | None = None,
    status_code: int = 200,
) -> Response:
    """The preview, also shown again when the import was refused: the file stays chosen."""
    return page(
        request,
        who,
        "admin/import.html",
        step="preview",
        role=role,
        handle=handle,
        parsed=parsed,
        plan=planned,
        error=error,
        status_code=status_code,
    )


async def _again(  # type: ignore[no-untyped-def]
    request: Request,
    who: Admin,
    role: str,
    handle: str,
    parsed,
    status_code: int,
    error: Message,
) -> Response:
    """A refused import: nothing of it is kept (all or nothing), and its preview is shown
    again, planned anew (only now: an import that goes through needs no plan)."""
    await run_in_threadpool(db(request).rollback)
    planned = await _plan(request, who, parsed)
    return _preview(
        request, who, role, handle, parsed, planned, error=error, status_code=status_code
    )


async def confirm(request: Request) -> Response:
    who, form = await posted(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    handle = str(form.get("handle", ""))
    pending = await run_in_threadpool(_load, db(request), rt, who, handle)
    if pending is None:
        return page(
            request,
            who,
            "admin/import.html",
            step="upload",
            role="student",
            status_code=400,
            error=Message(N_("Cet aperçu a expiré : déposez le fichier à nouveau.")),
        )
    if not form["_csrf_ok"]:
        return page(
            request, who, "admin/import.html", step="upload", role=pending.role, error=EXPIRED
        )
    if siecle.looks_like_siecle(pending.data):
        return await _siecle_confirm(request, who, pending, handle)
    parsed = await _parse(request, pending.data, pending.role)
    skip = form.get("skip_invalid") == "1"
    deactivate = form.get("deactivate_missing") == "1"
    code = who.establishment.code
    # Refused lines without « importer les lignes valides »: nothing will be created.
    refused = bool(parsed.refused) and not skip
    supply = await _supply(
        request,
        who,
        lambda: 0 if refused else imports.plan(rt, db(request), code, parsed).to_create,
    )
    try:
        report = await run_in_threadpool(
            lambda: imports.apply(
                rt,
                db(request),
                code,
                parsed,
                skip_invalid=skip,
                actor=who.login,
                deactivate_missing_role=Role(pending.role) if deactivate else None,
                supply=supply,
            )
        )
    except IdpError as exc:
        return await _again(request, who, pending.role, handle, parsed, exc.status_code, exc.public)
    if not report.applied:
        return await _again(
            request,
            who,
            pending.role,
            handle,
            parsed,
            400,
            Message(
                N_(
                    "Des lignes sont refusées : rien n'a été importé. Corrigez le fichier, "
                    "ou cochez « Importer les lignes valides »."
                )
            ),
        )
    await run_in_threadpool(
        _save_created, db(request), rt, who, handle, imports.created_csv(report.created)
    )
    if report.handouts:
        return _sheet(request, who, report.handouts, report.counts(), handle)
    return page(
        request,
        who,
        "admin/import.html",
        step="done",
        role=pending.role,
        handle=handle,
        report=report,
    )


def _save_created(session, rt, who: Admin, handle: str, text: str) -> None:  # type: ignore[no-untyped-def]
    establishment = session.get(Establishment, who.establishment.id)
    row = session.scalar(
        owned(PendingImport, establishment, PendingImport.handle_hash == secret_hash(handle))
    )
    if row is not None:
        row.created_csv = text
        row.data = b""  # the file is no longer needed


async def download(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    pending = await run_in_threadpool(
        _load, db(request), rt, who, request.query_params.get("h", "")
    )
    if pending is None or pending.created_csv is None:
        return page(request, who, "admin/not_found.html", status_code=404)
    headers: dict[str, Any] = {
        "Content-Disposition": 'attachment; filename="comptes-crees.csv"',
        "Cache-Control": "no-store",
    }
    return Response(
        "\ufeff" + pending.created_csv, media_type="text/csv; charset=utf-8", headers=headers
    )


# The columns the import reads, with one line to show their form (a made-up pupil).
TEMPLATE = (
    "Nom;Prénom;Date de naissance;Classe;Email;Rôle\r\nExemple;Camille;14/07/2009;2MRC-A;;Élève\r\n"
)


async def template(request: Request) -> Response:
    """A file to fill in, which the import reads as it is (Excel opens it with its accents:
    UTF-8 with a byte-order mark, `;`)."""
    who = await admin(request)
    if isinstance(who, Response):
        return who
    return Response(
        "\ufeff" + TEMPLATE,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="modele-import.csv"'},
    )


def _sheet(  # type: ignore[no-untyped-def]
    request: Request, who: Admin, made: list[slips.Handout], counts: dict[str, int], handle: str
):
    """The new accounts' random initial passwords (the establishment's choice): their
    slips, this once, under the import's counts."""
    summary = Message(
        N_(
            "Import terminé : %(created)s compte(s) créé(s), %(updated)s mis à jour, "
            "%(deactivated)s désactivé(s), %(unchanged)s sans changement."
        ),
        counts,
    )
    code = who.establishment.code
    return handouts.sheet(
        request, who.establishment, Viewer.of(who.session.user), made,
        back=url(request, "admin_import", code=code), summary=summary,
        logins_url=url(request, "admin_import_created", {"h": handle}, code=code),
    )  # fmt: skip
