"""Sign-in and password change: the school's rules, apart from the web pages that ask.

Async because password hashing runs in worker threads (bounded by the hasher); database
work runs in the thread pool as well, so the event loop never waits.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from starlette.concurrency import run_in_threadpool

from idp.accounts import logins
from idp.accounts.initial_passwords import matches_initial
from idp.accounts.password_policy import PasswordOwner, PasswordPolicy, Refusal
from idp.accounts.throttling import ThrottlePolicy
from idp.models import Establishment, User
from idp.runtime import Runtime
from idp.security.tokens import new_secret, secret_hash
from idp.store import audit, establishments, sessions, throttles, users


class Result(Enum):
    OK = "ok"
    MUST_CHANGE = "must_change"
    UNKNOWN_LOGIN = "unknown_login"
    BAD_PASSWORD = "bad_password"  # noqa: S105 - an outcome, not a password
    INACTIVE = "inactive"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class Attempt:
    result: Result
    user_id: int | None = None
    login: str | None = None
    # For THROTTLED: whole seconds to wait.
    retry_after: int = 0


@dataclass(frozen=True)
class Client:
    """Who is asking: address, browser, and the accounts this browser already signed in to."""

    ip: str | None
    user_agent: str | None = None
    known_accounts: frozenset[str] = frozenset()


def password_fingerprint(user: User) -> str:
    """Changes whenever the password does: binds a change ticket to the password it replaces."""
    return hashlib.sha256((user.password_hash or "initial").encode()).hexdigest()[:16]


def _seconds(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


class SignIn:
    def __init__(self, rt: Runtime, throttle: ThrottlePolicy | None = None) -> None:
        self.rt = rt
        self.throttle = throttle or ThrottlePolicy()
        self.policy = PasswordPolicy(
            min_length=rt.settings.password_min_length, min_score=rt.settings.password_min_score
        )

    # -- password check ------------------------------------------------------------------

    async def authenticate(
        self, establishment_id: int, typed_login: str, password: str, client: Client
    ) -> Attempt:
        login = logins.normalise_typed(typed_login)
        first = await run_in_threadpool(self._before_password, establishment_id, login, client)
        if first.result is not Result.OK:
            return first
        user = first
        assert user.user_id is not None
        stored = await run_in_threadpool(self._stored_password, user.user_id)
        if stored is None:  # deleted meanwhile
            return await run_in_threadpool(
                self._fail, establishment_id, None, login, client, "unknown_login"
            )
        password_hash, role, birth_date = stored
        if password_hash is None:
            # Initial password: spend a hash's time anyway, so timing does not tell whether
            # the account is still on its birth date.
            await self.rt.hasher.burn_async(password)
            ok = birth_date is not None and matches_initial(role, birth_date, password)
            rehash = False
        else:
            verification = await self.rt.hasher.verify_async(password_hash, password)
            ok, rehash = verification.ok, verification.needs_rehash
        if not ok:
            return await run_in_threadpool(
                self._fail, establishment_id, user.user_id, login, client, "bad_password"
            )
        new_hash = await self.rt.hasher.hash_async(password) if rehash else None
        return await run_in_threadpool(
            self._succeed, establishment_id, user.user_id, client, new_hash
        )

    def _before_password(self, establishment_id: int, login: str, client: Client) -> Attempt:
        now = self.rt.clock.now()
        with self.rt.database.session() as session:
            if client.ip and (
                until := throttles.blocked_until(session, throttles.ip_scope(client.ip), now)
            ):
                return self._throttled(
                    session, establishment_id, None, login, client, until, now, "ip"
                )
            establishment = self._establishment(session, establishment_id)
            user = users.by_login(session, establishment, login) if login else None
            if user is None:
                self._count_failure(session, establishment, None, client, now)
                audit.record(
                    session,
                    establishment,
                    "login.failure",
                    at=now,
                    subject=login[:64] or None,
                    ip=client.ip,
                    details={"reason": "unknown_login"},
                )
                return Attempt(Result.UNKNOWN_LOGIN, login=login)
            scope = throttles.account_scope(user.id)
            exempt = user.sub in client.known_accounts
            if not exempt and (until := throttles.blocked_until(session, scope, now)):
                return self._throttled(
                    session, establishment_id, user, login, client, until, now, "account"
                )
            return Attempt(Result.OK, user_id=user.id, login=user.login)

    def _stored_password(self, user_id: int) -> tuple[str | None, object, object] | None:
        with self.rt.database.session() as session:
            user = session.get(User, user_id)
            return None if user is None else (user.password_hash, user.role, user.birth_date)

    def _throttled(
        self,
        session,
        establishment_id,
        user,
        login,
        client,
        until,
        now,
        scope,  # type: ignore[no-untyped-def]
    ) -> Attempt:
        establishment = self._establishment(session, establishment_id)
        seconds = _seconds(until, now)
        audit.record(
            session,
            establishment,
            "login.throttled",
            at=now,
            subject=(user.login if user else login[:64]) or None,
            ip=client.ip,
            details={"scope": scope, "retry_after": seconds},
        )
        return Attempt(
            Result.THROTTLED, user_id=user.id if user else None, login=login, retry_after=seconds
        )

    def _count_failure(
        self,
        session,
        establishment: Establishment,
        user: User | None,
        client: Client,
        now: datetime,  # type: ignore[no-untyped-def]
    ) -> None:
        if client.ip:
            throttles.record_failure(
                session,
                throttles.ip_scope(client.ip),
                now=now,
                forget_before=now - self.throttle.ip_window,
                by_window=True,
                delay_for=self.throttle.ip_delay,
            )
        if user is not None:
            throttles.record_failure(
                session,
                throttles.account_scope(user.id),
                now=now,
                forget_before=now - self.throttle.account_quiet_period,
                by_window=False,
                delay_for=self.throttle.account_delay,
                establishment_id=establishment.id,
            )

    def _fail(
        self, establishment_id: int, user_id: int | None, login: str, client: Client, reason: str
    ) -> Attempt:
        now = self.rt.clock.now()
        with self.rt.database.session() as session:
            establishment = self._establishment(session, establishment_id)
            user = session.get(User, user_id) if user_id else None
            self._count_failure(session, establishment, user, client, now)
            audit.record(
                session,
                establishment,
                "login.failure",
                at=now,
                subject=user.login if user else login[:64] or None,
                ip=client.ip,
                details={"reason": reason},
            )
        result = Result.BAD_PASSWORD if reason == "bad_password" else Result.UNKNOWN_LOGIN
        return Attempt(result, user_id=user_id, login=login)

    def _succeed(
        self, establishment_id: int, user_id: int, client: Client, new_hash: str | None
    ) -> Attempt:
        now = self.rt.clock.now()
        with self.rt.database.session() as session:
            establishment = self._establishment(session, establishment_id)
            user = session.get(User, user_id)
            assert user is not None
            throttles.clear(session, throttles.account_scope(user.id))
            if not user.active:
                audit.record(
                    session,
                    establishment,
                    "login.failure",
                    at=now,
                    subject=user.login,
                    ip=client.ip,
                    details={"reason": "inactive"},
                )
                return Attempt(Result.INACTIVE, user_id=user.id, login=user.login)
            if new_hash is not None:
                # Parameters changed since this hash was made: upgrade it now.
                user.password_hash = new_hash
            if user.password_hash is None or user.must_change_password:
                audit.record(
                    session,
                    establishment,
                    "login.password_change_required",
                    at=now,
                    subject=user.login,
                    ip=client.ip,
                )
                return Attempt(Result.MUST_CHANGE, user_id=user.id, login=user.login)
            return Attempt(Result.OK, user_id=user.id, login=user.login)

    @staticmethod
    def _establishment(session, establishment_id: int) -> Establishment:  # type: ignore[no-untyped-def]
        establishment = session.get(Establishment, establishment_id)
        assert establishment is not None
        return establishment

    # -- sessions ------------------------------------------------------------------------

    def open_session(self, establishment_id: int, user_id: int, client: Client) -> tuple[str, str]:
        """A new SSO session; returns (cookie token, user sub). Blocking."""
        now = self.rt.clock.now()
        token = new_secret()
        with self.rt.database.session() as session:
            establishment = self._establishment(session, establishment_id)
            user = session.get(User, user_id)
            assert user is not None
            sessions.add(
                session,
                establishment,
                user,
                token_hash=secret_hash(token),
                now=now,
                expires_at=now + self.rt.settings.session_absolute,
                ip=client.ip,
                user_agent=client.user_agent,
            )
            user.last_login_at = now
            audit.record(
                session,
                establishment,
                "login.success",
                at=now,
                subject=user.login,
                ip=client.ip,
            )
            return token, user.sub

    def current_session(self, establishment_id: int, token: str | None):  # type: ignore[no-untyped-def]
        """The live session behind a cookie token, refreshed for idle expiry, or None."""
        if not token:
            return None
        now = self.rt.clock.now()
        with self.rt.database.session() as session:
            establishment = self._establishment(session, establishment_id)
            row = sessions.live_by_token(
                session,
                establishment,
                secret_hash(token),
                now=now,
                idle_since=now - self.rt.settings.session_idle,
            )
            if row is None or not row.user.active:
                return None
            # One write a minute at most per session, not one per request.
            if now - row.last_seen_at > timedelta(minutes=1):
                sessions.touch(session, row, now)
            return row

    def end_session(self, establishment_id: int, token: str | None, client: Client) -> None:
        if not token:
            return
        now = self.rt.clock.now()
        with self.rt.database.session() as session:
            establishment = self._establishment(session, establishment_id)
            row = sessions.live_by_token(
                session,
                establishment,
                secret_hash(token),
                now=now,
                idle_since=now - self.rt.settings.session_absolute,
            )
            if row is not None:
                sessions.end(session, row, now)
                audit.record(
                    session,
                    establishment,
                    "logout",
                    at=now,
                    subject=row.user.login,
                    ip=client.ip,
                )

    # -- password change -----------------------------------------------------------------

    def owner(self, user_id: int) -> tuple[PasswordOwner, str] | None:
        """Who the password is for, and the fingerprint of the current password."""
        with self.rt.database.session() as session:
            user = session.get(User, user_id)
            if user is None:
                return None
            return (
                PasswordOwner(user.login, user.first_name, user.last_name, user.birth_date),
                password_fingerprint(user),
            )

    async def check_new_password(
        self, user_id: int, new: str, confirmation: str, current: str | None
    ) -> Refusal | None:
        """The policy's verdict. `current` is what a voluntary change typed; for a forced
        change the current password is the initial one (the birth date, which the policy
        refuses anyway) or a generated one, compared against its hash."""
        found = await run_in_threadpool(self.owner, user_id)
        assert found is not None
        owner, _ = found
        refusal = await run_in_threadpool(
            self.policy.check, new, owner, confirmation=confirmation, current=current
        )
        if refusal is None and current is None:
            stored = await run_in_threadpool(self._stored_password, user_id)
            if stored and stored[0] and (await self.rt.hasher.verify_async(stored[0], new)).ok:
                return self.policy.refusal("same_as_current")
        return refusal

    async def verify_current(self, user_id: int, password: str) -> bool:
        stored = await run_in_threadpool(self._stored_password, user_id)
        if stored is None:
            return False
        password_hash, role, birth_date = stored
        if password_hash is None:
            await self.rt.hasher.burn_async(password)
            return birth_date is not None and matches_initial(role, birth_date, password)
        return (await self.rt.hasher.verify_async(password_hash, password)).ok

    async def change_password(
        self,
        establishment_id: int,
        user_id: int,
        new: str,
        client: Client,
        *,
        keep_session: str | None = None,
        expected_fingerprint: str | None = None,
    ) -> bool:
        """Store the new password; end the user's sessions (but the one being used, for a
        voluntary change). False if the password changed meanwhile (a stale ticket)."""
        new_hash = await self.rt.hasher.hash_async(new)
        return await run_in_threadpool(
            self._store_password,
            establishment_id,
            user_id,
            new_hash,
            client,
            keep_session,
            expected_fingerprint,
        )

    def _store_password(
        self,
        establishment_id: int,
        user_id: int,
        new_hash: str,
        client: Client,
        keep_session: str | None,
        expected_fingerprint: str | None,
    ) -> bool:
        now = self.rt.clock.now()
        with self.rt.database.session() as session:
            establishment = self._establishment(session, establishment_id)
            user = session.get(User, user_id)
            if user is None or user.establishment_id != establishment.id:
                return False
            if expected_fingerprint and password_fingerprint(user) != expected_fingerprint:
                return False
            forced = user.password_hash is None or user.must_change_password
            users.set_password_hash(session, user, new_hash, must_change=False, now=now)
            keep = None
            if keep_session:
                row = sessions.live_by_token(
                    session,
                    establishment,
                    secret_hash(keep_session),
                    now=now,
                    idle_since=now - self.rt.settings.session_idle,
                )
                keep = row.id if row else None
            ended = sessions.end_all_of_user(session, establishment, user.id, now=now, keep=keep)
            audit.record(
                session,
                establishment,
                "password.changed",
                at=now,
                actor=user.login,
                subject=user.login,
                ip=client.ip,
                details={"forced": forced, "sessions_ended": ended},
            )
            return True

    def establishment_by_code(self, code: str) -> Establishment | None:
        with self.rt.database.session() as session:
            return establishments.by_code(session, code)
