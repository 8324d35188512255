"""Every way an SSO session ends goes through here (OpenID Connect Back-Channel Logout 1.0):
sign-out, RP-initiated logout, a password change, a reset, an admin's action. The session
ends, the tokens that live with it are revoked, and every module that took part in it and
registered a `backchannel_logout_uri` gets a row in the outbox, in the same transaction: a
session end that rolls back tells no one, one that commits is told even if this process
stops. idp.oauth.backchannel sends them (§2.5), in the background, with a short timeout and
retries, so that a module that is down never holds the user back.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from joserfc import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.clock import Clock
from idp.db import Database, after_commit
from idp.metrics import Metrics
from idp.models import AuthorizationCode, Client, Establishment, SsoSession, Token, User
from idp.oauth.backchannel import Notice, Sender
from idp.oauth.keys import KeyRing
from idp.security.outbound import Outbound
from idp.settings import Settings
from idp.store import outbox
from idp.store import sessions as session_store
from idp.store import tokens as token_store

__all__ = ["EVENT", "Logout", "Notice"]

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Logout:
    def __init__(
        self,
        settings: Settings,
        keys: KeyRing,
        *,
        database: Database,
        clock: Clock,
        outbound: Outbound,
        timeout: float = 5.0,
        poll_interval: float = 1.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._database = database
        # This process's sender: the server runs `sender.run()`; a commit that queued
        # notices wakes it.
        self.sender = Sender(
            database,
            clock,
            sign=self.logout_token,
            issuer=settings.issuer,
            outbound=outbound,
            timeout=timeout,
            poll_interval=poll_interval,
            metrics=metrics,
        )

    # -- within a unit of work -------------------------------------------------------------

    def end_session(
        self, session: Session, establishment: Establishment, row: SsoSession, now: datetime
    ) -> list[Notice]:
        """End one SSO session and what lives with it, and queue its notices in the same
        transaction (no commit here); returns them."""
        notices = self._queue(session, establishment, [row], now)
        session_store.end(session, row, now)
        token_store.revoke_of_session(session, establishment, row.id, now)
        return notices

    def end_user(
        self,
        session: Session,
        establishment: Establishment,
        user: User,
        now: datetime,
        *,
        keep: int | None = None,
    ) -> list[Notice]:
        """End all of a user's sessions (but `keep`) and revoke all of the user's tokens,
        offline_access ones included: a password change, a reset, a deactivation. The
        notices are queued in the same transaction; returns them."""
        rows = [
            r
            for r in session_store.live_of_user(session, establishment, user.id, now=now)
            if r.id != keep
        ]
        notices = self._queue(session, establishment, rows, now)
        for row in rows:
            session_store.end(session, row, now)
        token_store.revoke_of_user(session, establishment, user.id, now)
        return notices

    def _queue(
        self, session: Session, establishment: Establishment, rows: list[SsoSession], now: datetime
    ) -> list[Notice]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        used = set(
            session.scalars(
                select(AuthorizationCode.client_pk).where(AuthorizationCode.sso_session_id.in_(ids))
            )
        )
        used |= set(session.scalars(select(Token.client_pk).where(Token.sso_session_id.in_(ids))))
        if not used:
            return []
        clients = session.scalars(
            select(Client).where(
                Client.establishment_id == establishment.id,
                Client.id.in_(used),
                Client.backchannel_logout_uri.is_not(None),
                Client.enabled.is_(True),
            )
        ).all()
        issuer = self._settings.issuer(establishment.code)
        notices = []
        for row in rows:
            for client in clients:
                if not _took_part(session, row.id, client.id):
                    continue
                queued = outbox.add(
                    session,
                    establishment,
                    client,
                    sub=row.user.sub,
                    sid=row.sid,
                    jti=secrets.token_hex(16),
                    now=now,
                )
                notices.append(
                    Notice(
                        establishment.id,
                        issuer,
                        queued.client_id,
                        queued.alg,
                        queued.uri,
                        queued.sub,
                        queued.sid,
                        queued.jti,
                    )
                )
        if notices:
            # Sent by this process as soon as the transaction commits, not at its next poll.
            after_commit(session, self._wake)
        return notices

    # -- after commit ----------------------------------------------------------------------

    def _wake(self) -> None:
        self.sender.wake()  # never blocks

    def logout_token(self, notice: Notice, now: datetime, session: Session | None = None) -> str:
        """A signed logout token (§2.4), issued `now`, valid 2 minutes; its `jti` is the
        notice's, so that every attempt to deliver one notice carries the same. Without a
        `session`, the key is looked up in a short unit of work of its own (the sender signs
        between its transactions; usually a cache hit, which touches no database)."""
        claims = {
            "iss": notice.issuer,
            "aud": notice.client_id,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(minutes=2)).timestamp()),
            "jti": notice.jti or secrets.token_hex(16),
            "sub": notice.sub,
            "sid": notice.sid,
            "events": {EVENT: {}},
        }
        if session is None:
            with self._database.session() as own:
                key = self._keys.signing_key(own, notice.establishment_id, notice.alg)
        else:
            key = self._keys.signing_key(session, notice.establishment_id, notice.alg)
        header = {"alg": notice.alg, "kid": key.kid, "typ": "logout+jwt"}
        return jwt.encode(header, claims, key, algorithms=[notice.alg])

    def drain(self) -> int:
        """Deliver, in this thread, everything due now (tests; a CLI that wants its notices
        out before it exits). Returns the attempts made."""
        return self.sender.drain()

    def close(self) -> None:
        self.sender.close()


def _took_part(session: Session, sso_session_id: int, client_pk: int) -> bool:
    code = session.scalar(
        select(AuthorizationCode.id)
        .where(
            AuthorizationCode.sso_session_id == sso_session_id,
            AuthorizationCode.client_pk == client_pk,
        )
        .limit(1)
    )
    return (
        code is not None
        or session.scalar(
            select(Token.id)
            .where(Token.sso_session_id == sso_session_id, Token.client_pk == client_pk)
            .limit(1)
        )
        is not None
    )
