"""Housekeeping: rows whose time is over, and audit events past their retention (minors'
data is kept no longer than needed). Run by `idp purge` and, periodically, by the server."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, delete, or_, select, text, update
from sqlalchemy.orm import Session

from idp.models import (
    AuditEvent,
    AuthorizationCode,
    BackchannelNotice,
    Establishment,
    PendingAuthorization,
    PendingImport,
    SigningKey,
    SsoSession,
    Throttle,
    Token,
    UsedAssertion,
    User,
)
from idp.runtime import Runtime
from idp.store import audit
from idp.store.audit import EventType

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
    counts = {"leavers": _purge_leavers(rt)}
    for name, (model, criteria) in kinds.items():
        with rt.database.session() as session:
            if rt.database.dialect == "postgresql":
                session.execute(text("SET LOCAL statement_timeout = 0"))
            counts[name] = _delete(session, model, *criteria)
    return Purged(counts)


def pseudonym(secret_key: str, user: User) -> str:
    """What the audit calls a purged account: the same for all its events, and nothing
    that leads back to the person once the account is gone. Keyed: the modules knew its
    `sub`, and must not be able to recompute the pseudonym from it."""
    digest = hmac.new(secret_key.encode(), f"purged:{user.sub}".encode(), hashlib.sha256)
    return "parti-" + digest.hexdigest()[:12]


def _purge_leavers(rt: Runtime) -> int:
    """Accounts deactivated as leavers IDP_LEAVER_RETENTION_DAYS ago or more: deleted with
    their personal data (groups, sessions, tokens go with them); their audit events keep
    only a pseudonym, and the deletion is itself recorded. One transaction per account."""
    now = rt.clock.now()
    until = now - timedelta(days=rt.settings.leaver_retention_days)
    with rt.database.session(write=False) as session:
        due = session.scalars(
            select(User.id).where(User.active.is_(False), User.left_at <= until)
        ).all()
    purged = 0
    for user_id in due:
        with rt.database.session() as session:
            # Locked: an import bringing the pupil back waits, or is waited for.
            user = session.get(User, user_id, with_for_update=True)
            # Back since (an import reactivated it), or already gone: nothing to do.
            if user is None or user.active or user.left_at is None or user.left_at > until:
                continue
            establishment = session.get(Establishment, user.establishment_id)
            alias = pseudonym(rt.settings.secret_key, user)
            for column in (AuditEvent.subject, AuditEvent.actor):
                session.execute(
                    update(AuditEvent)
                    .where(AuditEvent.establishment_id == user.establishment_id)
                    .where(column == user.login)
                    .values({column.key: alias})
                )
            session.delete(user)
            audit.record(
                session,
                establishment,
                EventType.USER_PURGED,
                at=now,
                actor=audit.SYSTEM,
                subject=alias,
                details={"role": user.role.value, "left_at": user.left_at.date().isoformat()},
            )
            purged += 1
    return purged
