"""`/{code}/admin/sessions` (who is signed in, and ending sessions) and
`/{code}/admin/audit` (the audit log, filtered, exported as CSV)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from idp import spreadsheets
from idp.errors import IdpError
from idp.i18n import N_, Message
from idp.models import AuditEvent, AuthorizationCode, Client, Establishment, SsoSession
from idp.services import sessions
from idp.store.tenancy import owned
from idp.web import flash
from idp.web.admin import journal
from idp.web.admin.guard import admin, page, posted
from idp.web.messages import EXPIRED
from idp.web.rendering import PARIS, url
from idp.web.transactions import db

PAGE = 100
# What the type filter offers; a family (`login`, `password`) may be typed as well.


async def sessions_page(
    request: Request, *, notice: Message | None = None, error: Message | None = None
) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime

    def load():  # type: ignore[no-untyped-def]
        now = rt.clock.now()
        session = db(request)
        establishment = session.get(Establishment, who.establishment.id)
        rows = session.scalars(
            owned(
                SsoSession,
                establishment,
                SsoSession.ended_at.is_(None),
                SsoSession.expires_at > now,
                SsoSession.last_seen_at > now - rt.settings.session_idle,
            )
            .order_by(SsoSession.last_seen_at.desc())
            .limit(500)
        ).all()
        result = []
        for row in rows:
            modules = session.scalars(
                select(Client.name)
                .join(AuthorizationCode, AuthorizationCode.client_pk == Client.id)
                .where(AuthorizationCode.sso_session_id == row.id)
                .distinct()
            ).all()
            result.append(
                {
                    "id": row.id,
                    "login": row.user.login,
                    "name": f"{row.user.first_name} {row.user.last_name}",
                    "created_at": row.created_at,
                    "last_seen_at": row.last_seen_at,
                    "ip": row.ip,
                    "modules": list(modules),
                }
            )
        return result

    return page(
        request,
        who,
        "admin/sessions.html",
        rows=await run_in_threadpool(load),
        notice=notice,
        error=error,
    )


async def end(request: Request) -> Response:
    who, form = await posted(request)
    if isinstance(who, Response):
        return who
    if not form["_csrf_ok"]:
        return await sessions_page(request, error=EXPIRED)
    rt = request.app.state.runtime
    try:
        session_id = int(form["session"]) if form.get("session") else None
        if session_id is not None and not 0 < session_id < 2**31:
            raise ValueError
        login = str(form["login"]) if form.get("login") else None
        count = await run_in_threadpool(
            lambda: sessions.end(
                rt,
                db(request),
                who.establishment.code,
                actor=who.login,
                session_id=session_id,
                login=login,
            )
        )
    except (IdpError, ValueError):
        return await sessions_page(request, error=Message(N_("Session inconnue.")))
    return flash.redirect(
        request,
        url(request, "admin_sessions", code=who.establishment.code),
        who.establishment.code,
        notice=Message(N_("%(count)s session(s) fermée(s)."), {"count": count}),
    )


def _audit_filters(request: Request) -> dict[str, Any]:
    q = request.query_params

    def day(name: str) -> date | None:
        try:
            chosen = date.fromisoformat(q.get(name, ""))
        except ValueError:
            return None
        return chosen if date(1900, 1, 1) <= chosen <= date(9000, 1, 1) else None

    try:
        number = min(max(1, int(q.get("page", "1"))), 100_000)
    except ValueError:
        number = 1
    return {
        # No stored text holds NUL, and PostgreSQL's driver refuses to send one.
        "user": q.get("user", "").replace("\x00", "").strip()[:64],
        "type": q.get("type", "").strip()[:64],
        "from": day("from"),
        "to": day("to"),
        "page": number,
    }


def _audit_query(establishment: Establishment, f: dict[str, Any]):  # type: ignore[no-untyped-def]
    criteria = []
    if f["user"]:
        criteria.append((AuditEvent.subject == f["user"]) | (AuditEvent.actor == f["user"]))
    if f["type"]:
        criteria.append(AuditEvent.type.startswith(f["type"]))
    if f["from"]:
        criteria.append(AuditEvent.at >= datetime.combine(f["from"], time(), PARIS))
    if f["to"]:
        criteria.append(
            AuditEvent.at < datetime.combine(f["to"] + timedelta(days=1), time(), PARIS)
        )
    return owned(AuditEvent, establishment, *criteria).order_by(
        AuditEvent.at.desc(), AuditEvent.id.desc()
    )


async def audit_page(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    f = _audit_filters(request)

    def load():  # type: ignore[no-untyped-def]
        session = db(request)
        query = _audit_query(session.get(Establishment, who.establishment.id), f)
        return list(session.scalars(query.offset((f["page"] - 1) * PAGE).limit(PAGE + 1)))

    events = await run_in_threadpool(load)
    return page(
        request,
        who,
        "admin/audit.html",
        events=events[:PAGE],
        more=len(events) > PAGE,
        filters=f,
        kinds=[(prefix, Message(kind)) for prefix, kind in journal.KINDS],
        journal=journal,
    )


async def audit_csv(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    f = _audit_filters(request)

    def export() -> str:
        session = db(request)
        query = _audit_query(session.get(Establishment, who.establishment.id), f).limit(100_000)
        return spreadsheets.write(
            ["date", "type", "acteur", "objet", "adresse IP", "détails"],
            (
                [
                    e.at.astimezone(PARIS).isoformat(timespec="seconds"),
                    e.type,
                    e.actor or "",
                    e.subject or "",
                    e.ip or "",
                    " ".join(f"{k}={v}" for k, v in sorted(e.details.items())),
                ]
                for e in session.scalars(query)
            ),
        )

    text = await run_in_threadpool(export)
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="journal.csv"',
            "Cache-Control": "no-store",
        },
    )
