from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from idp.models import Establishment, SigningKey
from idp.store.tenancy import owned


def published(
    session: Session, establishment: Establishment, now: datetime
) -> Sequence[SigningKey]:
    """Keys still in the JWKS, oldest first."""
    query = owned(
        SigningKey,
        establishment,
        or_(SigningKey.publish_until.is_(None), SigningKey.publish_until > now),
    ).order_by(SigningKey.created_at, SigningKey.id)
    return session.scalars(query).all()


def add(
    session: Session,
    establishment: Establishment,
    *,
    kid: str,
    alg: str,
    public_jwk: dict,  # type: ignore[type-arg]
    private_key_encrypted: str,
    now: datetime,
    active_from: datetime,
) -> SigningKey:
    key = SigningKey(
        establishment_id=establishment.id,
        kid=kid,
        alg=alg,
        public_jwk=public_jwk,
        private_key_encrypted=private_key_encrypted,
        created_at=now,
        active_from=active_from,
    )
    session.add(key)
    session.flush()
    return key


def retire_signing(
    session: Session,
    establishment: Establishment,
    alg: str,
    *,
    retire_at: datetime,
    publish_until: datetime,
    except_kid: str,
) -> None:
    """Schedule the end of every current key of `alg` but the new one."""
    session.execute(
        update(SigningKey)
        .where(
            SigningKey.establishment_id == establishment.id,
            SigningKey.alg == alg,
            SigningKey.kid != except_kid,
            SigningKey.retire_at.is_(None),
        )
        .values(retire_at=retire_at, publish_until=publish_until)
    )
