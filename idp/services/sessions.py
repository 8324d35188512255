"""SSO sessions, ended from the admin console (a sign-out ends its own: idp.services.signin)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from idp.models import SsoSession
from idp.runtime import Runtime
from idp.services import accounts, establishments
from idp.store import audit, sessions
from idp.store.audit import EventType
from idp.store.tenancy import owned


def end(
    rt: Runtime,
    session: Session,
    code: str,
    *,
    actor: str,
    session_id: int | None = None,
    login: str | None = None,
) -> int:
    """End one SSO session, or all of a user's (tokens revoked, modules told)."""
    now = rt.clock.now()
    establishment = establishments.get(session, code)
    rows = []
    if session_id is not None:
        row = session.scalar(
            owned(
                SsoSession,
                establishment,
                SsoSession.id == session_id,
                SsoSession.ended_at.is_(None),
            )
        )
        rows = [row] if row else []
    elif login is not None:
        user = accounts.get(session, establishment, login)
        rows = list(sessions.live_of_user(session, establishment, user.id, now=now))
    for row in rows:
        rt.logout.end_session(session, establishment, row, now)
        audit.record(
            session,
            establishment,
            EventType.SESSION_ENDED,
            at=now,
            actor=actor,
            subject=row.user.login,
        )
    return len(rows)
