"""Authorization codes: stored hashed, claimed once by a conditional UPDATE so that two
concurrent redemptions cannot both succeed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from idp.models import AuthorizationCode, Establishment
from idp.store.tenancy import prepared, scope

_INSERT = insert(AuthorizationCode.__table__)


def add(session: Session, establishment: Establishment, **values: Any) -> None:
    # A Core INSERT, as for tokens (idp.store.tokens.add): nothing reads the row back.
    session.execute(_INSERT, {"establishment_id": establishment.id, **values})


@dataclass(frozen=True)
class Claim:
    code: AuthorizationCode | None
    # True only when this call claimed the code.
    claimed: bool = False
    # The code exists but was already used: a replay.
    replayed: bool = False


_CLAIM = (
    update(AuthorizationCode)
    .where(
        AuthorizationCode.establishment_id == bindparam("tenant"),
        AuthorizationCode.code_hash == bindparam("hash"),
        AuthorizationCode.client_pk == bindparam("client"),
        AuthorizationCode.used_at.is_(None),
        AuthorizationCode.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("now"))
    # Bound values: the session cannot match loaded objects against them; none is read after.
    .execution_options(synchronize_session=False)
)
_BY_HASH = prepared(AuthorizationCode, AuthorizationCode.code_hash == bindparam("hash"))


def claim(
    session: Session, establishment: Establishment, code_hash: str, client_pk: int, now: datetime
) -> Claim:
    """Only the code's own client claims it: another client presenting it spends nothing."""
    result = session.execute(
        _CLAIM, scope(establishment, hash=code_hash, client=client_pk, now=now)
    )
    row = session.scalar(_BY_HASH, scope(establishment, hash=code_hash))
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return Claim(row, claimed=True)
    return Claim(row, replayed=row is not None and row.used_at is not None)
