"""Housekeeping: rows whose time is over, and audit events past their retention (minors'
data is kept no longer than needed). Run by `idp purge` and, periodically, by the server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, delete, or_, text
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
    """Each kind of row in a transaction of its own, so that no lock is held across them;
    without the server's statement timeout, so that a large backlog (a first purge, a busy
    year's audit) is cleared rather than cancelled at every run."""
    now = rt.clock.now()
    old = now - GRACE
    kinds: dict[str, tuple[type, tuple[object, ...]]] = {
        "pending requests": (PendingAuthorization, (PendingAuthorization.expires_at < now,)),
        "tokens": (
            Token,
            (
                or_(
                    # A revoked client_credentials token's row is all that keeps it revoked:
                    # kept until the token has expired (no access token lives a day).
                    and_(Token.revoked_at < old, Token.access_expires_at < old),
                    and_(
                        Token.access_expires_at < old,
                        or_(Token.refresh_expires_at.is_(None), Token.refresh_expires_at < old),
                    ),
                ),
            ),
        ),
        "pending imports": (PendingImport, (PendingImport.expires_at < now,)),
        "codes": (AuthorizationCode, (AuthorizationCode.expires_at < old,)),
        "sessions": (SsoSession, (or_(SsoSession.ended_at < old, SsoSession.expires_at < old),)),
        "throttles": (
            Throttle,
            (
                Throttle.last_failure_at < now - timedelta(hours=24),
                or_(Throttle.blocked_until.is_(None), Throttle.blocked_until < now),
            ),
        ),
        "signing keys": (SigningKey, (SigningKey.publish_until < old,)),
        # Finished notices only; pending ones are given up on by the sender.
        "back-channel notices": (
            BackchannelNotice,
            (or_(BackchannelNotice.delivered_at < old, BackchannelNotice.abandoned_at < old),),
        ),
        "assertion ids": (UsedAssertion, (UsedAssertion.expires_at < now,)),
        "audit events": (
            AuditEvent,
            (AuditEvent.at < now - timedelta(days=rt.settings.audit_retention_days),),
        ),
    }
    counts = {}
    for name, (model, criteria) in kinds.items():
        with rt.database.session() as session:
            if rt.database.dialect == "postgresql":
                session.execute(text("SET LOCAL statement_timeout = 0"))
            counts[name] = _delete(session, model, *criteria)
    return Purged(counts)
