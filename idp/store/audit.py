"""The audit log: every event recorded through `record`, its type one of `EventType`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from idp.db import after_commit, metrics_of
from idp.models import AuditEvent, Establishment
from idp.store.tenancy import core, owned

log = logging.getLogger("idp.audit")

# The actor of what the platform operator does from the command line (no account of its own).
OPERATOR = "operator"
# The actor of what the provider does by itself (the purge).
SYSTEM = "system"


class EventType(StrEnum):
    """Every type of audit event, and when it is recorded. The value is what the database
    stores and the console and its CSV export show: never change one that has been used."""

    # Signing in (idp.services.signin); failures say why in details.reason.
    # A right password at sign-in: an SSO session opens.
    LOGIN_SUCCESS = "login.success"
    # An unknown login, a wrong password, or a deactivated account.
    LOGIN_FAILURE = "login.failure"
    # An attempt refused before any check: too many failures of the account or the address.
    LOGIN_THROTTLED = "login.throttled"
    # A right initial, generated or temporary password: the user must choose one first.
    LOGIN_PASSWORD_CHANGE_REQUIRED = "login.password_change_required"  # noqa: S105
    # An SSO session ends at the user's request: sign-out, a module's logout, a new sign-in.
    LOGOUT = "logout"

    # Passwords.
    # The user chose a new password (forced at first sign-in, or voluntary).
    PASSWORD_CHANGED = "password.changed"  # noqa: S105
    # The operator set a password (`idp user set-password`, the demo).
    PASSWORD_SET = "password.set"  # noqa: S105
    # Back to the birth date (admin account: a new one, mailed) by the operator, admin, teacher.
    PASSWORD_RESET = "password.reset"  # noqa: S105
    # The « Mot de passe oublié ? » form sent nothing: unknown login, student, no email…
    PASSWORD_FORGOT = "password.forgot"  # noqa: S105
    # A temporary password went by email (the forgot form, or the admin console).
    PASSWORD_TEMPORARY_SENT = "password.temporary_sent"  # noqa: S105
    # The mail server refused the temporary password: none is active.
    PASSWORD_TEMPORARY_FAILED = "password.temporary_failed"  # noqa: S105

    # Accounts (operator, admin console).
    # An account was created, one at a time.
    USER_CREATED = "user.created"
    # An admin edited an account's names, birth date, role, email or groups.
    USER_UPDATED = "user.updated"
    # An admin deactivated an account: its sessions and tokens end.
    USER_DEACTIVATED = "user.deactivated"
    # An admin reactivated an account.
    USER_REACTIVATED = "user.reactivated"
    # An admin deleted an account.
    USER_DELETED = "user.deleted"
    # A leaver's account and personal data were deleted IDP_LEAVER_RETENTION_DAYS after
    # they left; their earlier events now name a pseudonym.
    USER_PURGED = "user.purged"
    # An admin cleared an account's failed sign-in counter.
    USER_UNBLOCKED = "user.unblocked"
    # A bulk import was applied (counts in details).
    USERS_IMPORTED = "users.imported"
    # An admin ended an SSO session from the console.
    SESSION_ENDED = "session.ended"

    # Establishments (operator).
    # An establishment was created, with its admin account.
    ESTABLISHMENT_CREATED = "establishment.created"
    # Credentials leaked: every password of the establishment (or of one role) replaced,
    # every session and token ended (counts in details).
    ESTABLISHMENT_INCIDENT = "establishment.incident"
    # A suspended establishment was re-opened.
    ESTABLISHMENT_ENABLED = "establishment.enabled"
    # An establishment was suspended.
    ESTABLISHMENT_DISABLED = "establishment.disabled"
    # The admin changed the logo or the accent colour of the establishment's pages.
    ESTABLISHMENT_LOOK_CHANGED = "establishment.look_changed"
    # The admin chose what new accounts and resets get: the birth date or random initial
    # passwords on slips.
    ESTABLISHMENT_INITIAL_PASSWORDS = "establishment.initial_passwords"

    # Client applications (operator, admin console).
    # A module was registered.
    CLIENT_CREATED = "client.created"
    # A module's name, addresses, scopes or signing algorithm were changed.
    CLIENT_UPDATED = "client.updated"
    # A module got a new secret; the old one stopped working.
    CLIENT_SECRET_ROTATED = "client.secret_rotated"  # noqa: S105
    # A disabled module was enabled again.
    CLIENT_ENABLED = "client.enabled"
    # A module was disabled.
    CLIENT_DISABLED = "client.disabled"
    # A module was deleted, with its codes and tokens.
    CLIENT_DELETED = "client.deleted"

    # The protocol (idp.oauth).
    # An authorization code was issued to a module.
    AUTHORIZE_CODE_ISSUED = "authorize.code_issued"
    # A code was presented a second time: what its first use issued is revoked.
    TOKEN_CODE_REPLAYED = "token.code_replayed"  # noqa: S105
    # A rotated refresh token was used again: its whole family is revoked.
    TOKEN_REFRESH_REUSED = "token.refresh_reused"  # noqa: S105


_INSERT = insert(AuditEvent.__table__)


def record(
    session: Session,
    establishment: Establishment | None,
    event_type: EventType,
    *,
    at: datetime,
    actor: str | None = None,
    subject: str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    if not isinstance(event_type, EventType):
        # A free string would be an event type the console cannot offer.
        raise TypeError(f"audit events are of an EventType, not {event_type!r}")
    if log.isEnabledFor(logging.INFO):
        # The kind alone: who and what stay in the audit table, whose access is controlled.
        # The request's id, establishment and address come with every line (idp.logs).
        log.info("%s", event_type.value, extra={"audit": event_type.value})
    if (metrics := metrics_of(session)) is not None:
        # Counted once committed: an attempt rolled back did not happen.
        code = establishment.code if establishment else None
        after_commit(session, functools.partial(metrics.audited, event_type.value, code, details))
    if session.new:
        session.flush()  # an establishment created in this transaction gets its id
    # A Core INSERT on the session's connection: every sign-in records an event, and the
    # ORM's flush, even its execution layer, would cost more than the statement itself.
    # Changes pending in the session are flushed at the commit, or by the next ORM query.
    core(
        session,
        _INSERT,
        {
            "establishment_id": establishment.id if establishment else None,
            "at": at,
            "type": event_type.value,
            "actor": actor,
            "subject": subject,
            "ip": ip,
            "details": details or {},
        },
    )


def recent(
    session: Session, establishment: Establishment, limit: int = 100
) -> Sequence[AuditEvent]:
    query = owned(AuditEvent, establishment).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    return session.scalars(query.limit(limit)).all()


def count_since(
    session: Session, establishment: Establishment, types: Sequence[EventType], since: datetime
) -> int:
    query = owned(
        AuditEvent,
        establishment,
        AuditEvent.type.in_([t.value for t in types]),
        AuditEvent.at >= since,
    )
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0
