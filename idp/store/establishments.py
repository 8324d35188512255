from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.orm import Session

from idp.models import Establishment, EstablishmentLook, User


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


_LOOK = select(
    EstablishmentLook.accent, EstablishmentLook.logo_type, EstablishmentLook.updated_at
).where(EstablishmentLook.establishment_id == bindparam("establishment_id"))


def look_of(session: Session, establishment_id: int) -> Row[Any] | None:
    """The establishment's accent, logo type and when they changed (not the logo itself)."""
    return session.execute(_LOOK, {"establishment_id": establishment_id}).one_or_none()


def look_row(session: Session, establishment_id: int) -> EstablishmentLook | None:
    return session.get(EstablishmentLook, establishment_id)
