from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idp.models import AuditEvent, Establishment
from idp.store.tenancy import owned


def record(
    session: Session,
    establishment: Establishment | None,
    type: str,
    *,
    at: datetime,
    actor: str | None = None,
    subject: str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        establishment_id=establishment.id if establishment else None,
        at=at,
        type=type,
        actor=actor,
        subject=subject,
        ip=ip,
        details=details or {},
    )
    session.add(event)
    session.flush()
    return event


def recent(
    session: Session, establishment: Establishment, limit: int = 100
) -> Sequence[AuditEvent]:
    query = owned(AuditEvent, establishment).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    return session.scalars(query.limit(limit)).all()


def count_since(
    session: Session, establishment: Establishment, types: Sequence[str], since: datetime
) -> int:
    query = owned(
        AuditEvent, establishment, AuditEvent.type.in_(list(types)), AuditEvent.at >= since
    )
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0
