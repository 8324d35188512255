"""Housekeeping: rows whose time is over, and audit events past their retention (minors'
data is kept no longer than needed). Run by `idp purge` and, periodically, by the server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, delete, or_
from sqlalchemy.orm import Session

from idp.models import (
    AuditEvent,
    AuthorizationCode,
    BackchannelNotice,
    PendingAuthorization,
    PendingImport,
    SigningKey,
    SsoSession,
    Throttle,
    Token,
    UsedAssertion,
)
from idp.runtime import Runtime

# What is past its end is kept a day longer, for investigations and replay detection.
GRACE = timedelta(days=1)


@dataclass(frozen=True)
class Purged:
    counts: dict[str, int]

    def __str__(self) -> str:
        return ", ".join(f"{name}: {n}" for name, n in self.counts.items())


def _delete(session: Session, model: type, *criteria: object) -> int:
    return session.execute(delete(model).where(*criteria)).rowcount  # type: ignore[attr-defined,arg-type]


def purge(rt: Runtime) -> Purged:
    now = rt.clock.now()
    old = now - GRACE
    with rt.database.session() as session:
        counts = {
            "pending requests": _delete(
                session, PendingAuthorization, PendingAuthorization.expires_at < now
            ),
            "tokens": _delete(
                session,
                Token,
                or_(
                    Token.revoked_at < old,
                    and_(
                        Token.access_expires_at < old,
                        or_(Token.refresh_expires_at.is_(None), Token.refresh_expires_at < old),
                    ),
                ),
            ),
            "pending imports": _delete(session, PendingImport, PendingImport.expires_at < now),
            "codes": _delete(session, AuthorizationCode, AuthorizationCode.expires_at < old),
            "sessions": _delete(
                session, SsoSession, or_(SsoSession.ended_at < old, SsoSession.expires_at < old)
            ),
            "throttles": _delete(
                session,
                Throttle,
                Throttle.last_failure_at < now - timedelta(hours=24),
                or_(Throttle.blocked_until.is_(None), Throttle.blocked_until < now),
            ),
            "signing keys": _delete(session, SigningKey, SigningKey.publish_until < old),
            # Finished notices only; pending ones are given up on by the sender.
            "back-channel notices": _delete(
                session,
                BackchannelNotice,
                or_(BackchannelNotice.delivered_at < old, BackchannelNotice.abandoned_at < old),
            ),
            "assertion ids": _delete(session, UsedAssertion, UsedAssertion.expires_at < now),
            "audit events": _delete(
                session,
                AuditEvent,
                AuditEvent.at < now - timedelta(days=rt.settings.audit_retention_days),
            ),
        }
    return Purged(counts)
