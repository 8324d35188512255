"""Pending authorization requests and third-party consents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from idp.models import Consent, Establishment, PendingAuthorization
from idp.store.tenancy import core, owned, scope

# Every sign-in stores its request, reads it on the sign-in page and when it resumes, then
# deletes it: plain statements, no ORM objects (a tenth of the flow's database time).


def add_pending(
    session: Session,
    establishment: Establishment,
    *,
    handle_hash: str,
    params: dict[str, Any],
    now: datetime,
    expires_at: datetime,
) -> None:
    values = dict(handle_hash=handle_hash, params=params, created_at=now, expires_at=expires_at)
    core(session, _ADD_PENDING, {"establishment_id": establishment.id, **values})


_ADD_PENDING = insert(PendingAuthorization)


def pending(
    session: Session, establishment: Establishment, handle_hash: str, now: datetime
) -> tuple[dict[str, Any], datetime] | None:
    """A stored request not yet expired: its parameters and when it was stored."""
    row = core(session, _PENDING, scope(establishment, handle_hash=handle_hash, now=now)).first()
    return (dict(row[0]), row[1]) if row is not None else None


_PENDING = select(PendingAuthorization.params, PendingAuthorization.created_at).where(
    PendingAuthorization.establishment_id == bindparam("tenant"),
    PendingAuthorization.handle_hash == bindparam("handle_hash"),
    PendingAuthorization.expires_at > bindparam("now"),
)


def take_pending(session: Session, establishment: Establishment, handle_hash: str) -> bool:
    """Delete the stored request; False if another request took it first (the same handle
    resumed twice at once: on PostgreSQL this waits for the other's commit)."""
    result = core(session, _TAKE_PENDING, scope(establishment, handle_hash=handle_hash))
    return bool(result.rowcount)


_TAKE_PENDING = delete(PendingAuthorization).where(
    PendingAuthorization.establishment_id == bindparam("tenant"),
    PendingAuthorization.handle_hash == bindparam("handle_hash"),
)


def consent(
    session: Session, establishment: Establishment, sso_session_id: int, client_pk: int
) -> Consent | None:
    return session.scalar(
        owned(
            Consent,
            establishment,
            Consent.sso_session_id == sso_session_id,
            Consent.client_pk == client_pk,
        )
    )


def add_consent(
    session: Session,
    establishment: Establishment,
    *,
    sso_session_id: int,
    client_pk: int,
    scope: str,
    now: datetime,
) -> None:
    session.execute(
        delete(Consent).where(
            Consent.establishment_id == establishment.id,
            Consent.sso_session_id == sso_session_id,
            Consent.client_pk == client_pk,
        )
    )
    session.add(
        Consent(
            establishment_id=establishment.id,
            sso_session_id=sso_session_id,
            client_pk=client_pk,
            scope=scope,
            created_at=now,
        )
    )
    session.flush()
