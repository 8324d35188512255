"""Per-establishment signing keys (RS256: RSA 2048; ES256: P-256) and their rotation.

Rotation (`idp keys rotate`): the new key is published at once but signs only once the JWKS
cache lifetime has passed, so that a module holding a cached JWKS can already verify it; the
old key stops signing then, and stays published until every token it signed has expired.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.caches import Caches
from idp.clock import Clock
from idp.models import Establishment, SigningKey
from idp.security.encryption import Cipher, DecryptionError
from idp.store import keys as key_store

ALGORITHMS = ("RS256", "ES256")
# Establishments whose keys one process keeps at most (beyond, it starts again: a bound, not
# an eviction policy; thousands of establishments fit).
_MAX_CACHED = 10_000
# Tokens whose signature one process remembers having checked (a few MB at most; beyond, it
# starts again). Modules present the same access token at every call until it expires.
_MAX_VERIFIED = 5_000

# A session, or what opens one: the protocol endpoints pass their unit of work's opener, so
# that a request served from the cache opens no session at all.
SessionSource = Session | Callable[[], Session]


@dataclass(frozen=True)
class KeyPolicy:
    # How long a module may cache the JWKS (the Cache-Control max-age of the JWKS).
    jwks_cache: timedelta = timedelta(hours=1)
    # The longest a signed token lives (access and ID tokens), plus a margin for clock skew.
    longest_token: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class PublishedKey:
    id: int
    kid: str
    alg: str
    public_jwk: dict  # type: ignore[type-arg]
    private_key_encrypted: str
    active_from: datetime
    retire_at: datetime | None
    publish_until: datetime | None

    @classmethod
    def of(cls, row: SigningKey) -> PublishedKey:
        return cls(
            row.id,
            row.kid,
            row.alg,
            dict(row.public_jwk),
            row.private_key_encrypted,
            row.active_from,
            row.retire_at,
            row.publish_until,
        )


def _jwks_bytes(rows: list[PublishedKey]) -> bytes:
    keys = [row.public_jwk for row in rows]
    return json.dumps({"keys": keys}, separators=(",", ":")).encode()


def _generate(alg: str, kid: str) -> RSAKey | ECKey:
    parameters = {"kid": kid, "use": "sig", "alg": alg}
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters=parameters, private=True)
    return ECKey.generate_key("P-256", parameters=parameters, private=True)


class KeyRing:
    """Loads, creates and rotates keys; caches decrypted keys per establishment."""

    def __init__(
        self, secret_key: str, clock: Clock, caches: Caches, policy: KeyPolicy | None = None
    ) -> None:
        self._caches = caches
        caches.register(self.forget_all)
        self._cipher = Cipher(secret_key, "signing-keys")
        self._clock = clock
        self.policy = policy or KeyPolicy()
        # Per establishment: until when it holds, the published keys, the JWKS as bytes.
        self._cache: dict[int, tuple[datetime, list[PublishedKey], bytes]] = {}
        self._private: dict[str, RSAKey | ECKey] = {}
        # SHA-256 of a token -> its establishment, the kid that signed it, header, claims.
        self._verified: dict[bytes, tuple[int, str, dict[str, Any], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # -- creation ------------------------------------------------------------------------

    def create_initial(self, session: Session, establishment: Establishment) -> None:
        """One key per algorithm, signing at once (nobody can have cached a JWKS yet)."""
        now = self._clock.now()
        have = {k.alg for k in key_store.published(session, establishment, now)}
        for alg in ALGORITHMS:
            if alg not in have:
                self._add(session, establishment, alg, now=now, active_from=now)
        self._caches.changed(session)

    def rotate(self, session: Session, establishment: Establishment) -> list[str]:
        """A new key per algorithm; returns their kids."""
        now = self._clock.now()
        active_from = now + self.policy.jwks_cache
        kids = []
        for alg in ALGORITHMS:
            key = self._add(session, establishment, alg, now=now, active_from=active_from)
            key_store.retire_signing(
                session,
                establishment,
                alg,
                retire_at=active_from,
                publish_until=active_from + self.policy.longest_token,
                except_kid=key.kid,
            )
            kids.append(key.kid)
        self._caches.changed(session)
        return kids

    def _add(
        self,
        session: Session,
        establishment: Establishment,
        alg: str,
        *,
        now: datetime,
        active_from: datetime,
    ) -> SigningKey:
        kid = f"{alg.lower()}-{now:%Y%m%d}-{secrets.token_hex(4)}"
        key = _generate(alg, kid)
        pem = key.as_pem(private=True)
        return key_store.add(
            session,
            establishment,
            kid=kid,
            alg=alg,
            public_jwk=key.as_dict(private=False),
            private_key_encrypted=self._cipher.encrypt(pem, kid.encode()),
            now=now,
            active_from=active_from,
        )

    # -- use -----------------------------------------------------------------------------

    def _published(self, session: SessionSource, establishment_id: int) -> list[PublishedKey]:
        return self._entry(session, establishment_id)[1]

    def _entry(
        self, source: SessionSource, establishment_id: int
    ) -> tuple[datetime, list[PublishedKey], bytes]:
        now = self._clock.now()
        with self._lock:
            cached = self._cache.get(establishment_id)
            epoch = self._caches.epoch
        if cached and cached[0] > now:
            return cached
        session = source if isinstance(source, Session) else source()
        establishment = session.get(Establishment, establishment_id)
        assert establishment is not None
        found = list(key_store.published(session, establishment, now))
        if not {r.alg for r in found} >= set(ALGORITHMS):
            # Establishments created before keys existed get theirs on first use.
            self.create_initial(session, establishment)
            found = list(key_store.published(session, establishment, now))
        # Plain values: the cache outlives the request's session.
        rows = [PublishedKey.of(row) for row in found]
        # Changes (a rotation) clear the cache; otherwise re-read when a key starts or stops
        # signing, and hourly at the latest.
        horizon = now + timedelta(hours=1)
        for row in rows:
            for moment in (row.active_from, row.retire_at, row.publish_until):
                if moment is not None and now < moment < horizon:
                    horizon = moment
        entry = (horizon, rows, _jwks_bytes(rows))
        with self._lock:
            if self._caches.epoch == epoch:
                if len(self._cache) >= _MAX_CACHED:
                    self._cache.clear()
                self._cache[establishment_id] = entry
        return entry

    def forget_all(self) -> None:
        """Drop the cache (the keys changed, here or in another process)."""
        with self._lock:
            self._cache.clear()
            self._private.clear()
            self._verified.clear()

    def verified(
        self,
        session: SessionSource,
        establishment_id: int,
        token: str,
        algorithms: list[str],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The header and claims of a compact JWS signed by one of the establishment's
        published keys with one of `algorithms`; raises what `jwt.decode` raises. Claims are
        not judged here. A signature checked once is not checked again while the key that
        made it is still published: the signature check and parsing were a fifth of a
        userinfo or introspection request."""
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            known = self._verified.get(digest)
        if known is not None:
            owner, kid, header, claims = known
            published = self._published(session, establishment_id)
            if (
                owner == establishment_id
                and header.get("alg") in algorithms
                and any(row.kid == kid for row in published)
            ):
                return dict(header), dict(claims)
        decoded = jwt.decode(
            token, self.verification_keys(session, establishment_id), algorithms=algorithms
        )
        header, claims = dict(decoded.header), dict(decoded.claims)
        kid = header.get("kid")
        if isinstance(kid, str):
            with self._lock:
                if len(self._verified) >= _MAX_VERIFIED:
                    self._verified.clear()
                self._verified[digest] = (establishment_id, kid, header, claims)
        return dict(header), dict(claims)

    def jwks(self, session: Session, establishment_id: int) -> bytes:
        """The JWKS to publish, serialised (blocking: call from a worker thread)."""
        return self._entry(session, establishment_id)[2]

    def cached_jwks(self, establishment_id: int) -> bytes | None:
        """Without blocking: the JWKS bytes if the cache holds them now, else None."""
        with self._lock:
            cached = self._cache.get(establishment_id)
        if cached and cached[0] > self._clock.now() and not self._caches.due():
            return cached[2]
        return None

    def signing_key(
        self, session: SessionSource, establishment_id: int, alg: str
    ) -> RSAKey | ECKey:
        """The key that signs now for `alg`: the newest active one."""
        now = self._clock.now()
        candidates = [
            row
            for row in self._published(session, establishment_id)
            if row.alg == alg
            and row.active_from <= now
            and (row.retire_at is None or row.retire_at > now)
        ]
        if not candidates:
            raise LookupError(f"no active {alg} key for establishment {establishment_id}")
        row = max(candidates, key=lambda r: (r.active_from, r.id))
        return self._private_key(row)

    def verification_keys(self, session: SessionSource, establishment_id: int) -> KeySet:
        return KeySet(
            [self._private_key(row) for row in self._published(session, establishment_id)]
        )

    def decrypts(self, session: Session) -> bool:
        """Whether this instance's IDP_SECRET_KEY opens the newest signing key (any
        establishment's; True with none yet): an instance started with another key would
        answer every sign-in with an error, so it must not be ready."""
        row = session.execute(
            select(SigningKey.kid, SigningKey.private_key_encrypted)
            .order_by(SigningKey.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return True
        try:
            self._cipher.decrypt(row.private_key_encrypted, row.kid.encode())
        except DecryptionError:
            return False
        return True

    def _private_key(self, row: PublishedKey) -> RSAKey | ECKey:
        with self._lock:
            key = self._private.get(row.kid)
        if key is None:
            pem = self._cipher.decrypt(row.private_key_encrypted, row.kid.encode())
            parameters = {"kid": row.kid, "use": "sig", "alg": row.alg}
            loader = RSAKey if row.alg == "RS256" else ECKey
            key = loader.import_key(pem, parameters=parameters)
            with self._lock:
                if len(self._private) >= 2 * _MAX_CACHED:
                    self._private.clear()
                self._private[row.kid] = key
        return key
