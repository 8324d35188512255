"""Sign-in and password change: the school's rules, apart from the web pages that ask.

Async because password hashing runs in worker threads (bounded by the hasher); database
work runs in the thread pool as well, so the event loop never waits.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from idp.accounts import logins
from idp.accounts.initial_passwords import as_generated, matches_initial
from idp.accounts.password_policy import PasswordOwner, PasswordPolicy, Refusal
from idp.accounts.throttling import ThrottlePolicy
from idp.db import in_thread, quick, read, release
from idp.models import Establishment, User
from idp.runtime import Runtime
from idp.security.tokens import new_secret, secret_hash
from idp.store import audit, sessions, throttles, users
from idp.store.audit import EventType

# What may be recorded of an unknown login: people type their password in the login field
# by mistake, and that must not land in the audit table.
_LOGIN_SHAPE = re.compile(r"[a-z0-9][a-z0-9.-]{0,19}")
# A session in use is marked as seen one write a minute at most, not one per request.
TOUCH_EVERY = timedelta(minutes=1)


class Result(Enum):
    OK = "ok"
    MUST_CHANGE = "must_change"
    UNKNOWN_LOGIN = "unknown_login"
    BAD_PASSWORD = "bad_password"  # noqa: S105 - an outcome, not a password
    INACTIVE = "inactive"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class PasswordChange:
    """Whether the password was stored, and the new cookie token of the session a
    voluntary change keeps (the session id rotates, as at sign-in)."""

    done: bool
    session_token: str | None = None


@dataclass(frozen=True)
class Attempt:
    result: Result
    user_id: int | None = None
    login: str | None = None
    # For THROTTLED: whole seconds to wait.
    retry_after: int = 0
    # The account's sub when this browser was exempt as a known device (OK or failure).
    exempt_sub: str | None = None
    # Signed in with a temporary password sent by email (to be changed at once).
    temporary: bool = False
    # For BAD_PASSWORD: the account has an unexpired temporary password (the page's hint
    # then speaks of it rather than of the birth date).
    temporary_pending: bool = False
    # For BAD_PASSWORD: the right initial password from a slip, but past its end (the page
    # says to ask a teacher). Told only to whoever typed it right.
    initial_expired: bool = False
    # For OK when asked to open a session: (cookie token, known-device entry).
    opened: tuple[str, str] | None = None


@dataclass(frozen=True)
class Client:
    """Who is asking: address, browser, and the accounts this browser already signed in
    to, as `sub:password stamp` (a password change makes old entries worthless)."""

    ip: str | None
    user_agent: str | None = None
    known_accounts: frozenset[str] = frozenset()


def password_fingerprint(user: User | Any) -> str:
    """Changes whenever the password does (a reset to the birth date included): binds a
    change ticket and a known-device entry to the password they were made with."""
    stamp = user.password_changed_at.isoformat() if user.password_changed_at else ""
    material = f"{user.password_hash or 'initial'}|{stamp}|{user.must_change_password}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def recordable_login(login: str) -> str | None:
    return login if _LOGIN_SHAPE.fullmatch(login) else None


def _still_current(user: User, checked: tuple, temporary: bool) -> bool:  # type: ignore[type-arg]
    """Whether the password checked (read as `checked` by `_stored_password`) is still the
    account's: every new password has a hash of its own (a new salt), a reset to the birth
    date has none, and a new temporary password replaces the one checked. (A concurrent
    sign-in's rehash of the same password also changes the hash: that attempt is refused,
    once, rather than ever let through a replaced password.)"""
    if temporary:
        return user.temp_password_hash == checked[3]
    return user.password_hash == checked[0] and user.birth_date == checked[2]


def _seconds(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


class SignIn:
    def __init__(self, rt: Runtime, throttle: ThrottlePolicy | None = None) -> None:
        self.rt = rt
        self.throttle = throttle or ThrottlePolicy(
            ip_free_failures=rt.settings.throttle_ip_failures
        )
        self.policy = PasswordPolicy(
            min_length=rt.settings.password_min_length, min_score=rt.settings.password_min_score
        )

    # -- password check ------------------------------------------------------------------

    async def authenticate(
        self,
        db: Session,
        establishment_id: int,
        typed_login: str,
        password: str,
        client: Client,
        *,
        open_session: bool = False,
        replacing: str | None = None,
    ) -> Attempt:
        """Two transactions: the attempt is reserved and committed before the password is
        checked (parallel guesses see it), then its outcome is recorded and committed.
        With `open_session`, a success also opens the session (ending the one whose token
        is `replacing`) in that second transaction: a sign-in writes in two calls (`quick`),
        and on SQLite never holds the write lock across an await."""
        login = logins.normalise_typed(typed_login)

        def reserve_and_read():  # type: ignore[no-untyped-def]
            found = self._reserve_and_read(db, establishment_id, login, client)
            db.commit()  # before the hash: parallel guesses see the reservation
            return found

        reserved, stored = await quick(db, reserve_and_read)
        if reserved.result is not Result.OK:
            return reserved
        ok, new_hash, expected, temporary = await self._check(stored, password)
        expired = ok and not temporary and self._initial_expired(stored)
        ok = ok and not expired

        def settle() -> Attempt:
            if not ok:
                attempt = self._fail(db, establishment_id, reserved, client)
                pending = stored is not None and stored[3] is not None
                attempt = replace(attempt, temporary_pending=pending, initial_expired=expired)
            else:
                attempt, user = self._succeed(
                    db, establishment_id, reserved, client, new_hash, expected, temporary,
                    checked=stored,
                )  # fmt: skip
            if attempt.result is Result.OK and open_session:
                assert user is not None
                self.end_session(db, establishment_id, replacing, client)
                opened = self.open_session(db, establishment_id, user, client)
                attempt = replace(attempt, opened=opened)
            db.commit()
            return attempt

        return await quick(db, settle)

    def _reserve_and_read(self, db: Session, establishment_id: int, login: str, client: Client):  # type: ignore[no-untyped-def]
        reserved, user = self._reserve(db, establishment_id, login, client)
        if reserved.result is not Result.OK or user is None:
            return reserved, None
        return reserved, self._password_of(user)

    async def _check(self, stored, password: str) -> tuple[bool, str | None, str | None, bool]:  # type: ignore[no-untyped-def]
        """(right password?, a rehash if the parameters changed, the hash it replaces,
        was it the temporary password?). No transaction is open: hashing takes time."""
        if stored is None:
            return False, None, None, False
        password_hash, role, birth_date, temp_hash, must_change, _ = stored
        if password_hash is None:
            # Initial password: spend a hash's time anyway, so that timing does not tell
            # whether the account is still on its birth date.
            await self.rt.hasher.burn_async(password)
            ok = birth_date is not None and matches_initial(role, birth_date, password)
            new_hash = replaced = None
        else:
            verified = password
            verification = await self.rt.hasher.verify_async(password_hash, password)
            if not verification.ok and as_generated(password) != password:
                # Typed in the shape of a generated password without its hyphens: the
                # second hash is spent for every account (timing must not tell which ones
                # have a generated password pending), and counts only for those that do.
                again = await self.rt.hasher.verify_async(password_hash, as_generated(password))
                if again.ok and must_change:
                    verification, verified = again, as_generated(password)
            ok = verification.ok
            rehash = ok and verification.needs_rehash
            # The form that matched is the one stored again (the email's, with its hyphens).
            new_hash = await self.rt.hasher.hash_async(verified) if rehash else None
            replaced = password_hash if rehash else None
        # The personal password keeps working until the temporary one is used; its
        # hyphens, and spaces around or within a copied one, do not matter.
        if (
            not ok
            and temp_hash is not None
            and (await self.rt.hasher.verify_async(temp_hash, as_generated(password))).ok
        ):
            return True, None, None, True
        return ok, new_hash, replaced, False

    def _stored_password(self, db: Session, user_id: int):  # type: ignore[no-untyped-def]
        user = db.get(User, user_id)
        return None if user is None else self._password_of(user)

    def _password_of(self, user: User):  # type: ignore[no-untyped-def]
        """What a password is checked against, read from the account's row."""
        now = self.rt.clock.now()
        expires = user.temp_password_expires_at
        temp = user.temp_password_hash if expires is not None and expires > now else None
        return (
            user.password_hash,
            user.role,
            user.birth_date,
            temp,
            user.must_change_password,
            user.password_expires_at,
        )

    def _initial_expired(self, stored) -> bool:  # type: ignore[no-untyped-def]
        """A handed-out initial password, still to be changed, past its end."""
        must_change, expires = stored[4], stored[5]
        return bool(must_change and expires is not None and expires <= self.rt.clock.now())

    def _ip_blocked(self, session: Session, client: Client, now: datetime) -> datetime | None:
        """Until when the address is held back, if it is. Only failures that happened
        count: an address's attempts in flight are not counted as failures, or a whole
        school posting its right passwords at once behind one router would block itself
        (past 100 in flight). Parallel guesses stay bounded per account (below), and per
        address by what the hash queue lets through before the failures are recorded."""
        if not client.ip:
            return None
        return throttles.blocked_until(session, throttles.ip_scope(client.ip), now)

    def _ip_failed(self, session: Session, client: Client, now: datetime) -> None:
        """Count a failure of the address, and hold it back past the free ones."""
        if client.ip:
            throttles.reserve(
                session,
                throttles.ip_scope(client.ip),
                now=now,
                forget_before=now - self.throttle.ip_window,
                by_window=True,
                delay_for=self.throttle.ip_delay,
                honour_block=False,
            )

    def _reserve(
        self, session: Session, establishment_id: int, login: str, client: Client
    ) -> tuple[Attempt, Any]:
        """Before any password check, in one transaction: is this attempt allowed? If so it
        is counted as a failure of the account already, so that parallel guesses at one
        account cannot all get through. The account's row comes with an attempt allowed:
        the caller reads its password from it (reading it again would be a second query).
        The row is the columns a sign-in reads (`users.sign_in_view`), not an ORM object."""
        now = self.rt.clock.now()
        establishment = self._tenant(session, establishment_id)
        user = users.sign_in_view(session, establishment, login) if login else None
        exempt = user is not None and (
            f"{user.sub}:{password_fingerprint(user)}" in client.known_accounts
        )
        if exempt:
            # The exemption's failures are counted here, on the account: the browser's cookie
            # can be replayed. Past a few, the browser is throttled like any other.
            assert user is not None
            failures = throttles.reserve(
                session,
                throttles.known_browser_scope(user.id),
                now=now,
                forget_before=now - self.throttle.known_browser_window,
                by_window=True,
                delay_for=throttles.never,
                establishment_id=establishment.id,
            )
            exempt = failures is not None and self.throttle.known_browser_exempt(failures)
        # A known browser's failures count for its address, but its delay does not hold it.
        until = None if exempt else self._ip_blocked(session, client, now)
        if until is not None:
            held = self._throttled(session, establishment, user, login, client, until, now, "ip")
            return held, None
        if user is None:
            self._ip_failed(session, client, now)
            audit.record(
                session,
                establishment,
                EventType.LOGIN_FAILURE,
                at=now,
                subject=recordable_login(login),
                ip=client.ip,
                details={"reason": "unknown_login"},
            )
            return Attempt(Result.UNKNOWN_LOGIN, login=login), None
        if not user.active:
            # Said whatever the password: a deactivated account confirms no guess.
            audit.record(
                session,
                establishment,
                EventType.LOGIN_FAILURE,
                at=now,
                subject=user.login,
                ip=client.ip,
                details={"reason": "inactive"},
            )
            return Attempt(Result.INACTIVE, user_id=user.id, login=user.login), None
        if not exempt:
            scope = throttles.account_scope(user.id)
            reserved = throttles.reserve(
                session,
                scope,
                now=now,
                forget_before=now - self.throttle.account_quiet_period,
                by_window=False,
                delay_for=self.throttle.account_delay,
                establishment_id=establishment.id,
            )
            if reserved is None:
                # Refused without a check: not a failure of this address.
                until = throttles.blocked_until(session, scope, now)
                held = self._throttled(
                    session, establishment, user, login, client, until, now, "account"
                )
                return held, None
        allowed = Attempt(
            Result.OK,
            user_id=user.id,
            login=user.login,
            exempt_sub=user.sub if exempt else None,
        )
        return allowed, user

    def _throttled(self, session, establishment, user, login, client, until, now, scope) -> Attempt:  # type: ignore[no-untyped-def]
        seconds = _seconds(until, now) if until else 1
        audit.record(
            session,
            establishment,
            EventType.LOGIN_THROTTLED,
            at=now,
            subject=user.login if user else recordable_login(login),
            ip=client.ip,
            details={"scope": scope, "retry_after": seconds},
        )
        return Attempt(
            Result.THROTTLED, user_id=user.id if user else None, login=login, retry_after=seconds
        )

    def _fail(
        self, session: Session, establishment_id: int, reserved: Attempt, client: Client
    ) -> Attempt:
        """The account's failure was counted when the attempt was reserved; the address's
        is counted now, and the failure recorded."""
        now = self.rt.clock.now()
        self._ip_failed(session, client, now)
        audit.record(
            session,
            self._tenant(session, establishment_id),
            EventType.LOGIN_FAILURE,
            at=now,
            subject=reserved.login,
            ip=client.ip,
            details={"reason": "bad_password"},
        )
        return Attempt(
            Result.BAD_PASSWORD,
            user_id=reserved.user_id,
            login=reserved.login,
            exempt_sub=reserved.exempt_sub,
        )

    def _succeed(
        self,
        session: Session,
        establishment_id: int,
        reserved: Attempt,
        client: Client,
        new_hash: str | None,
        replaced_hash: str | None,
        temporary: bool = False,
        *,
        checked: tuple | None = None,  # type: ignore[type-arg]
    ) -> tuple[Attempt, Any]:
        """The attempt's outcome once the password matched, and, for a sign-in, the
        account's row (`users.sign_in_view_locked`), read again (and locked) here: opening
        the session needs it."""
        now = self.rt.clock.now()
        establishment = self._tenant(session, establishment_id)
        # Read again, and locked: the password was checked against what was read before
        # the hash, and a reset, a change or incident mode may have replaced it meanwhile.
        # Locked, a replacement that comes after this finds the session this opens, and
        # ends it.
        assert reserved.user_id is not None
        user = users.sign_in_view_locked(session, establishment, reserved.user_id)
        if user is not None and checked is not None and not _still_current(
            user, checked, temporary
        ):
            return self._fail(session, establishment_id, reserved, client), None
        if user is None or not user.active:
            # The right password for a deactivated account still counts as a failure,
            # so that it cannot be used to confirm guesses.
            self._ip_failed(session, client, now)
            audit.record(
                session,
                establishment,
                EventType.LOGIN_FAILURE,
                at=now,
                subject=reserved.login,
                ip=client.ip,
                details={"reason": "inactive"},
            )
            return Attempt(Result.INACTIVE, user_id=reserved.user_id, login=reserved.login), None
        throttles.reset(session, throttles.account_scope(user.id))
        if f"{user.sub}:{password_fingerprint(user)}" in client.known_accounts:
            throttles.reset(session, throttles.known_browser_scope(user.id))
        if (
            new_hash is not None
            and replaced_hash is not None
            and users.rehashed(session, establishment, user.id, new_hash, replaced_hash)
        ):
            # Parameters changed since this hash was made: upgraded, unless the password
            # itself changed meanwhile. The known-device entry is made with the new hash.
            user = SimpleNamespace(**{**user._asdict(), "password_hash": new_hash})
        if temporary or user.password_hash is None or user.must_change_password:
            audit.record(
                session,
                establishment,
                EventType.LOGIN_PASSWORD_CHANGE_REQUIRED,
                at=now,
                subject=user.login,
                ip=client.ip,
                details={"temporary": temporary},
            )
            must_change = Attempt(
                Result.MUST_CHANGE, user_id=user.id, login=user.login, temporary=temporary
            )
            return must_change, user
        ok = Attempt(Result.OK, user_id=user.id, login=user.login, exempt_sub=reserved.exempt_sub)
        return ok, user

    def _establishment(self, session: Session, establishment_id: int) -> Establishment:
        return self.rt.directory.row(session, establishment_id)

    def _tenant(self, session: Session, establishment_id: int) -> Establishment:
        """The cached establishment, not merged into the session: for the sign-in's
        statements, which take its id and code alone (a merge was a sixth of a reserve)."""
        return self.rt.directory.snapshot(session, establishment_id)

    # -- sessions ------------------------------------------------------------------------

    def open_session(
        self, session: Session, establishment_id: int, user: Any, client: Client
    ) -> tuple[str, str]:
        """A new SSO session for the account's row (`users.sign_in_view_locked`, read and
        locked by the sign-in); returns (cookie token, known-device entry). Blocking."""
        now = self.rt.clock.now()
        token = new_secret()
        establishment = self._tenant(session, establishment_id)
        sessions.add(
            session,
            establishment,
            user.id,
            token_hash=secret_hash(token),
            now=now,
            expires_at=now + self.rt.settings.session_absolute,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        users.signed_in(session, establishment, user.id, now)
        audit.record(
            session,
            establishment,
            EventType.LOGIN_SUCCESS,
            at=now,
            subject=user.login,
            ip=client.ip,
        )
        return token, f"{user.sub}:{password_fingerprint(user)}"

    def _live(
        self,
        session,
        establishment: Establishment,
        token: str,
        now: datetime,  # type: ignore[no-untyped-def]
        idle: timedelta | None = None,
    ):
        """The live session behind a cookie token (idle lifetime by default)."""
        return sessions.live_by_token(
            session,
            establishment,
            secret_hash(token),
            now=now,
            idle_since=now - (idle or self.rt.settings.session_idle),
        )

    def current_session(self, session: Session, establishment_id: int, token: str | None):  # type: ignore[no-untyped-def]
        """The live session behind a cookie token, refreshed for idle expiry, or None."""
        if not token:
            return None
        now = self.rt.clock.now()
        establishment = self._establishment(session, establishment_id)
        row = self._live(session, establishment, token, now)
        if row is None or not row.user.active:
            return None
        if now - row.last_seen_at > TOUCH_EVERY:
            sessions.touch(session, row, now)
        return row

    def live_session(
        self, session: Session, establishment_id: int, token: str | None
    ) -> sessions.Live | None:
        """`current_session` as plain columns, for an authorization request (the single
        sign-on of every module): one query, no ORM objects. Blocking."""
        if not token:
            return None
        now = self.rt.clock.now()
        # Read-only: its id scopes the statements (no merge into the session).
        establishment = self.rt.directory.snapshot(session, establishment_id)
        live = sessions.live_view_by_token(
            session,
            establishment,
            secret_hash(token),
            now=now,
            idle_since=now - self.rt.settings.session_idle,
        )
        if live is not None and now - live.last_seen_at > TOUCH_EVERY:
            sessions.touch_by_id(session, establishment, live.id, now)
        return live

    def end_session(
        self, session: Session, establishment_id: int, token: str | None, client: Client
    ) -> None:
        """Sign-out: the session ends with its tokens, and its modules are told."""
        if not token:
            return
        now = self.rt.clock.now()
        establishment = self._establishment(session, establishment_id)
        # An idle session is still ended on sign-out (its absolute end is the limit).
        row = self._live(session, establishment, token, now, idle=self.rt.settings.session_absolute)
        if row is None:
            return
        self.rt.logout.end_session(session, establishment, row, now)
        audit.record(
            session, establishment, EventType.LOGOUT, at=now, subject=row.user.login, ip=client.ip
        )

    # -- password change -----------------------------------------------------------------

    def owner(self, session: Session, user_id: int) -> tuple[PasswordOwner, str] | None:
        """Who the password is for, and the fingerprint of the current password."""
        user = session.get(User, user_id)
        if user is None:
            return None
        return (
            PasswordOwner(user.login, user.first_name, user.last_name, user.birth_date, user.role),
            password_fingerprint(user),
        )

    async def check_new_password(
        self, db: Session, user_id: int, new: str, confirmation: str, current: str | None
    ) -> Refusal | None:
        """The policy's verdict. `current` is what a voluntary change typed; for a forced
        change the current password is the initial one (the birth date, which the policy
        refuses anyway) or a generated one, compared against its hash."""
        found = await read(db, self.owner, db, user_id)
        assert found is not None
        owner, _ = found
        refusal = await run_in_threadpool(
            self.policy.check, new, owner, confirmation=confirmation, current=current
        )
        if refusal is None and current is None:
            # The generated or temporary password it replaces, in either of its forms
            # (with or without hyphens, as sign-in accepts it), is no new password.
            stored = await read(db, self._stored_password, db, user_id)
            known = [h for h in (stored[0], stored[3]) if h] if stored else []
            for candidate in dict.fromkeys((new, as_generated(new))):
                for known_hash in known:
                    if (await self.rt.hasher.verify_async(known_hash, candidate)).ok:
                        return self.policy.refusal("same_as_current")
        return refusal

    async def verify_current(
        self, db: Session, establishment_id: int, user_id: int, password: str, client: Client
    ) -> Attempt:
        """The current password, typed to change it voluntarily: throttled like a sign-in,
        so that a borrowed session cannot be used to find the password."""
        login = await read(db, self._login_of, db, user_id)
        reserved, stored = await in_thread(
            db, self._reserve_and_read, db, establishment_id, login or "", client
        )
        await release(db)
        if reserved.result is not Result.OK or reserved.user_id != user_id:
            return reserved
        ok, _, _, _ = await self._check(stored, password)
        if not ok:
            return await in_thread(db, self._fail, db, establishment_id, reserved, client)
        attempt, _ = await in_thread(
            db, self._succeed, db, establishment_id, reserved, client, None, None
        )
        return attempt

    @staticmethod
    def _login_of(session: Session, user_id: int) -> str | None:
        user = session.get(User, user_id)
        return user.login if user else None

    async def change_password(
        self,
        db: Session,
        establishment_id: int,
        user_id: int,
        new: str,
        client: Client,
        *,
        keep_session: str | None = None,
        expected_fingerprint: str | None = None,
        via_temporary: bool = False,
    ) -> PasswordChange:
        """Store the new password; end the user's sessions but the one being used, for a
        voluntary change, which gets a new token. Not done if the password changed
        meanwhile (a stale ticket)."""
        await release(db)
        new_hash = await self.rt.hasher.hash_async(new)
        return await in_thread(
            db,
            self._store_password,
            db,
            establishment_id,
            user_id,
            new_hash,
            client,
            keep_session,
            expected_fingerprint,
            via_temporary,
        )

    def _store_password(
        self,
        session: Session,
        establishment_id: int,
        user_id: int,
        new_hash: str,
        client: Client,
        keep_session: str | None,
        expected_fingerprint: str | None,
        via_temporary: bool = False,
    ) -> PasswordChange:
        now = self.rt.clock.now()
        establishment = self._establishment(session, establishment_id)
        # Read again (populate_existing): the request may hold this account's row from
        # before the password was checked, and a change meanwhile must not be written over.
        user = session.get(User, user_id, with_for_update=True, populate_existing=True)
        if user is None or user.establishment_id != establishment.id or not user.active:
            return PasswordChange(False)
        if expected_fingerprint and password_fingerprint(user) != expected_fingerprint:
            return PasswordChange(False)
        forced = user.password_hash is None or user.must_change_password or via_temporary
        users.set_password_hash(session, user, new_hash, must_change=False, now=now)
        if via_temporary:
            # The temporary password reached its owner at this address: it is verified.
            user.email_verified = True
        keep, rotated = None, None
        if keep_session:
            row = self._live(session, establishment, keep_session, now)
            if row is not None and row.user_id == user.id:
                # A new session id, as at sign-in: a token seen before the change (a shared
                # computer, a stolen cookie) no longer signs anyone in.
                keep, rotated = row.id, new_secret()
                sessions.rekey(session, row, secret_hash(rotated), now)
        self.rt.logout.end_user(session, establishment, user, now, keep=keep)
        audit.record(
            session,
            establishment,
            EventType.PASSWORD_CHANGED,
            at=now,
            actor=user.login,
            subject=user.login,
            ip=client.ip,
            details={"forced": forced},
        )
        return PasswordChange(True, rotated)
