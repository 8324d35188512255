"""Used private_key_jwt assertion ids (RFC 7523 §3 item 7; OIDC Core §9), shared by every
instance: an assertion is accepted once, and its id is remembered until it expires."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.models import Establishment, UsedAssertion


def _jti_hash(jti: str) -> str:
    return hashlib.sha256(jti.encode()).hexdigest()


def remember(
    session: Session,
    establishment: Establishment,
    client_id: str,
    jti: str,
    *,
    expires_at: datetime,
    now: datetime,
) -> bool:
    """True the first time this client presents `jti`, False for a replay.

    The insert runs in a SAVEPOINT: when another request (on any instance) inserted the same
    key first, the unique key refuses ours and only the savepoint is lost, not the caller's
    transaction. An id whose assertion has expired may be used again (RFC 7523 §3 asks to
    remember it for as long as the assertion is valid); the conditional UPDATE lets one
    request, not two, take it over.
    """
    digest = _jti_hash(jti)
    try:
        with session.begin_nested():
            session.execute(
                insert(UsedAssertion).values(
                    establishment_id=establishment.id,
                    client_id=client_id,
                    jti_hash=digest,
                    expires_at=expires_at,
                )
            )
        return True
    except IntegrityError:
        result = session.execute(
            update(UsedAssertion)
            .where(
                UsedAssertion.establishment_id == establishment.id,
                UsedAssertion.client_id == client_id,
                UsedAssertion.jti_hash == digest,
                UsedAssertion.expires_at < now,
            )
            .values(expires_at=expires_at)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]
