"""Authorization codes: stored hashed, claimed once by a conditional UPDATE so that two
concurrent redemptions cannot both succeed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from idp.models import AuthorizationCode, CodeMethods, Establishment, SsoSession, User
from idp.store.tenancy import core, scope
from idp.store.tokens import HOLDER_COLUMNS, Holder

_INSERT = insert(AuthorizationCode.__table__)


def add(session: Session, establishment: Establishment, **values: Any) -> None:
    # A Core INSERT, as for tokens (idp.store.tokens.add): nothing reads the row back.
    core(session, _INSERT, {"establishment_id": establishment.id, **values})


@dataclass(frozen=True)
class Redeemed(CodeMethods):
    """A code as its redemption reads it, in one query of plain columns: the code, its
    holder and its session's `sid` (loading the code, then the user, then the sid was a
    fifth of a token request)."""

    user: Holder
    id: int
    client_pk: int
    sso_session_id: int | None
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    claims: dict[str, Any] | None
    auth_time: datetime
    used_at: datetime | None
    sid: str | None


@dataclass(frozen=True)
class Claim:
    code: Redeemed | None
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
)
_REDEEMED = (
    select(
        *HOLDER_COLUMNS,
        AuthorizationCode.id,
        AuthorizationCode.client_pk,
        AuthorizationCode.sso_session_id,
        AuthorizationCode.redirect_uri,
        AuthorizationCode.scope,
        AuthorizationCode.nonce,
        AuthorizationCode.code_challenge,
        AuthorizationCode.code_challenge_method,
        AuthorizationCode.claims,
        AuthorizationCode.auth_time,
        AuthorizationCode.used_at,
        SsoSession.sid,
    )
    .select_from(AuthorizationCode)
    .join(User, User.id == AuthorizationCode.user_id)
    .outerjoin(SsoSession, SsoSession.id == AuthorizationCode.sso_session_id)
    .where(
        AuthorizationCode.establishment_id == bindparam("tenant"),
        AuthorizationCode.code_hash == bindparam("hash"),
    )
)


def claim(
    session: Session, establishment: Establishment, code_hash: str, client_pk: int, now: datetime
) -> Claim:
    """Only the code's own client claims it: another client presenting it spends nothing."""
    result = core(session, _CLAIM, scope(establishment, hash=code_hash, client=client_pk, now=now))
    row = core(session, _REDEEMED, scope(establishment, hash=code_hash)).one_or_none()
    code = None
    if row is not None:
        code = Redeemed(Holder(session, establishment, row), *row[len(HOLDER_COLUMNS) :])
    if result.rowcount == 1:
        return Claim(code, claimed=True)
    return Claim(code, replayed=code is not None and code.used_at is not None)
