"""`/{code}/admin`: counts at a glance, and the address to give to students."""

from __future__ import annotations

from datetime import datetime, time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from idp.models import Establishment
from idp.store import audit, users
from idp.store.audit import EventType
from idp.web.admin.guard import admin, page
from idp.web.rendering import PARIS
from idp.web.transactions import db


async def dashboard(request: Request) -> Response:
    who = await admin(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime

    def load():  # type: ignore[no-untyped-def]
        now = rt.clock.now()
        # "Today" is the school's day, in French time.
        midnight = datetime.combine(now.astimezone(PARIS).date(), time(), PARIS)
        session = db(request)
        establishment = session.get(Establishment, who.establishment.id)
        return (
            users.counts(session, establishment),
            audit.count_since(session, establishment, [EventType.LOGIN_SUCCESS], midnight),
            audit.count_since(session, establishment, [EventType.LOGIN_FAILURE], midnight),
        )

    counts, sign_ins, failures = await run_in_threadpool(load)
    roles = ("student", "teacher", "staff")
    states = ("initial", "temporary", "personal")
    table = {r: {s: counts.get((r, s), 0) for s in states} for r in roles}
    return page(
        request,
        who,
        "admin/dashboard.html",
        table=table,
        roles=roles,
        states=states,
        sign_ins=sign_ins,
        failures=failures,
        login_url=f"{rt.settings.issuer(who.establishment.code)}",
    )
