"""Per-establishment signing keys (RS256: RSA 2048; ES256: P-256) and their rotation.

Rotation (`idp keys rotate`): the new key is published at once but signs only once the JWKS
cache lifetime has passed, so that a module holding a cached JWKS can already verify it; the
old key stops signing then, and stays published until every token it signed has expired.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy.orm import Session

from idp.clock import Clock
from idp.db import Database
from idp.models import Establishment, SigningKey
from idp.security.encryption import Cipher
from idp.store import keys as key_store

ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True)
class KeyPolicy:
    # How long a module may cache the JWKS (the Cache-Control max-age of the JWKS).
    jwks_cache: timedelta = timedelta(hours=1)
    # The longest a signed token lives (access and ID tokens), plus a margin for clock skew.
    longest_token: timedelta = timedelta(minutes=15)


def _generate(alg: str, kid: str) -> RSAKey | ECKey:
    parameters = {"kid": kid, "use": "sig", "alg": alg}
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters=parameters, private=True)
    return ECKey.generate_key("P-256", parameters=parameters, private=True)


class KeyRing:
    """Loads, creates and rotates keys; caches decrypted keys per establishment."""

    def __init__(
        self, database: Database, secret_key: str, clock: Clock, policy: KeyPolicy | None = None
    ) -> None:
        self._database = database
        self._cipher = Cipher(secret_key, "signing-keys")
        self._clock = clock
        self.policy = policy or KeyPolicy()
        self._cache: dict[int, tuple[datetime, list[SigningKey]]] = {}
        self._private: dict[str, RSAKey | ECKey] = {}
        self._lock = threading.Lock()

    # -- creation ------------------------------------------------------------------------

    def create_initial(self, session: Session, establishment: Establishment) -> None:
        """One key per algorithm, signing at once (nobody can have cached a JWKS yet)."""
        now = self._clock.now()
        have = {k.alg for k in key_store.published(session, establishment, now)}
        for alg in ALGORITHMS:
            if alg not in have:
                self._add(session, establishment, alg, now=now, active_from=now)

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
        self.forget(establishment.id)
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

    def _published(self, establishment_id: int) -> list[SigningKey]:
        now = self._clock.now()
        with self._lock:
            cached = self._cache.get(establishment_id)
        if cached and cached[0] > now:
            return cached[1]
        with self._database.session() as session:
            establishment = session.get(Establishment, establishment_id)
            assert establishment is not None
            rows = list(key_store.published(session, establishment, now))
            if not {r.alg for r in rows} >= set(ALGORITHMS):
                # Establishments created before keys existed get theirs on first use.
                self.create_initial(session, establishment)
                rows = list(key_store.published(session, establishment, now))
            session.expunge_all()
        # Re-read soon, and at the latest when a key starts or stops signing.
        horizon = now + timedelta(minutes=5)
        for row in rows:
            for moment in (row.active_from, row.retire_at, row.publish_until):
                if moment is not None and now < moment < horizon:
                    horizon = moment
        with self._lock:
            self._cache[establishment_id] = (horizon, rows)
        return rows

    def forget(self, establishment_id: int) -> None:
        with self._lock:
            self._cache.pop(establishment_id, None)

    def forget_all(self) -> None:
        """Drop the cache (another process, `idp keys rotate`, changed the keys)."""
        with self._lock:
            self._cache.clear()

    def jwks(self, establishment_id: int) -> dict:  # type: ignore[type-arg]
        """The public keys to publish (blocking: call from a worker thread)."""
        return {"keys": [dict(row.public_jwk) for row in self._published(establishment_id)]}

    def signing_key(self, establishment_id: int, alg: str) -> RSAKey | ECKey:
        """The key that signs now for `alg`: the newest active one."""
        now = self._clock.now()
        candidates = [
            row
            for row in self._published(establishment_id)
            if row.alg == alg
            and row.active_from <= now
            and (row.retire_at is None or row.retire_at > now)
        ]
        if not candidates:
            raise LookupError(f"no active {alg} key for establishment {establishment_id}")
        row = max(candidates, key=lambda r: (r.active_from, r.id))
        return self._private_key(row)

    def verification_keys(self, establishment_id: int) -> KeySet:
        return KeySet([self._private_key(row) for row in self._published(establishment_id)])

    def _private_key(self, row: SigningKey) -> RSAKey | ECKey:
        with self._lock:
            key = self._private.get(row.kid)
        if key is None:
            pem = self._cipher.decrypt(row.private_key_encrypted, row.kid.encode())
            parameters = {"kid": row.kid, "use": "sig", "alg": row.alg}
            loader = RSAKey if row.alg == "RS256" else ECKey
            key = loader.import_key(pem, parameters=parameters)
            with self._lock:
                self._private[row.kid] = key
        return key
