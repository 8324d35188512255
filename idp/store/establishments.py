from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idp.models import Establishment, User


def by_code(session: Session, code: str) -> Establishment | None:
    return session.scalar(select(Establishment).where(Establishment.code == code))


def by_uai(session: Session, uai: str) -> Establishment | None:
    return session.scalar(select(Establishment).where(Establishment.uai == uai))


def all_by_code(session: Session) -> Sequence[Establishment]:
    return session.scalars(select(Establishment).order_by(Establishment.code)).all()


def user_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(User.establishment_id, func.count()).group_by(User.establishment_id)
    )
    return {establishment_id: count for establishment_id, count in rows}


def add(
    session: Session, *, code: str, name: str, uai: str, email: str, now: datetime
) -> Establishment:
    establishment = Establishment(
        code=code, name=name, uai=uai, email=email, enabled=True, created_at=now
    )
    session.add(establishment)
    session.flush()
    return establishment


def set_enabled(session: Session, establishment: Establishment, enabled: bool) -> None:
    establishment.enabled = enabled
    session.flush()
