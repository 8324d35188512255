"""Every way an SSO session ends goes through here (OpenID Connect Back-Channel Logout 1.0):
sign-out, RP-initiated logout, a password change, a reset, an admin's action. The session
ends, the tokens that live with it are revoked, and every module that took part in it and
registered a `backchannel_logout_uri` is sent a signed logout token, in the background, with
a short timeout, so that a module that is down never holds the user back.
"""

from __future__ import annotations

import logging
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from joserfc import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.models import AuthorizationCode, Client, Establishment, SsoSession, Token, User
from idp.oauth.keys import KeyRing
from idp.settings import Settings
from idp.store import sessions as session_store
from idp.store import tokens as token_store

log = logging.getLogger(__name__)
EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass(frozen=True)
class Notice:
    establishment_id: int
    issuer: str
    client_id: str
    alg: str
    uri: str
    sub: str
    sid: str


class Logout:
    def __init__(self, settings: Settings, keys: KeyRing, *, timeout: float = 5.0) -> None:
        self._settings = settings
        self._keys = keys
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="backchannel")
        self.pending: list[Future[None]] = []

    # -- within a unit of work -------------------------------------------------------------

    def end_session(
        self, session: Session, establishment: Establishment, row: SsoSession, now: datetime
    ) -> list[Notice]:
        """End one SSO session and what lives with it; returns the notices to send once the
        transaction has committed."""
        notices = self._notices(session, establishment, [row])
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
        offline_access ones included: a password change, a reset, a deactivation."""
        rows = [
            r
            for r in session_store.live_of_user(session, establishment, user.id, now=now)
            if r.id != keep
        ]
        notices = self._notices(session, establishment, rows)
        for row in rows:
            session_store.end(session, row, now)
        token_store.revoke_of_user(session, establishment, user.id, now)
        return notices

    def _notices(
        self, session: Session, establishment: Establishment, rows: list[SsoSession]
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
        return [
            Notice(
                establishment.id,
                issuer,
                c.client_id,
                c.id_token_signed_response_alg,
                c.backchannel_logout_uri,
                row.user.sub,
                row.sid,
            )  # type: ignore[arg-type]
            for row in rows
            for c in clients
            if _took_part(session, row.id, c.id)
        ]

    # -- after commit ----------------------------------------------------------------------

    def notify(self, notices: list[Notice], now: datetime) -> None:
        for notice in notices:
            token = self.logout_token(notice, now)
            self.pending.append(self._pool.submit(self._post, notice, token))

    def logout_token(self, notice: Notice, now: datetime) -> str:
        claims = {
            "iss": notice.issuer,
            "aud": notice.client_id,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(minutes=2)).timestamp()),
            "jti": secrets.token_hex(16),
            "sub": notice.sub,
            "sid": notice.sid,
            "events": {EVENT: {}},
        }
        key = self._keys.signing_key(notice.establishment_id, notice.alg)
        header = {"alg": notice.alg, "kid": key.kid, "typ": "logout+jwt"}
        return jwt.encode(header, claims, key, algorithms=[notice.alg])

    def _post(self, notice: Notice, token: str) -> None:
        try:
            response = httpx.post(
                notice.uri,
                data={"logout_token": token},
                timeout=self._timeout,
                headers={"Cache-Control": "no-store"},
            )
        except httpx.HTTPError as exc:
            log.warning(
                "back-channel logout to %s (%s) failed: %s",
                notice.client_id,
                notice.uri,
                type(exc).__name__,
            )
            return
        if response.status_code != 200:
            log.warning(
                "back-channel logout to %s answered %s", notice.client_id, response.status_code
            )

    def drain(self, timeout: float = 30) -> None:
        """Wait for the notices under way (tests, shutdown)."""
        pending, self.pending = self.pending, []
        for future in pending:
            future.result(timeout=timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


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
