"""Pending authorization requests and third-party consents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from idp.models import Consent, Establishment, PendingAuthorization
from idp.store.tenancy import owned


def add_pending(
    session: Session,
    establishment: Establishment,
    *,
    handle_hash: str,
    params: dict[str, Any],
    now: datetime,
    expires_at: datetime,
) -> PendingAuthorization:
    row = PendingAuthorization(
        establishment_id=establishment.id,
        handle_hash=handle_hash,
        params=params,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row


def pending(
    session: Session, establishment: Establishment, handle_hash: str, now: datetime
) -> PendingAuthorization | None:
    return session.scalar(
        owned(
            PendingAuthorization,
            establishment,
            PendingAuthorization.handle_hash == handle_hash,
            PendingAuthorization.expires_at > now,
        )
    )


def take_pending(session: Session, establishment: Establishment, handle_hash: str) -> bool:
    """Delete the stored request; False if another request took it first (the same handle
    resumed twice at once: on PostgreSQL this waits for the other's commit)."""
    result = session.execute(
        delete(PendingAuthorization)
        .where(
            PendingAuthorization.establishment_id == establishment.id,
            PendingAuthorization.handle_hash == handle_hash,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


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
