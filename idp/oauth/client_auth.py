"""private_key_jwt client authentication (RFC 7523 §2.2, OIDC Core §9): the module signs
an assertion with its own key; we verify it with the keys it registered (inline, or at its
jwks_uri, fetched with a short timeout and cached for a few minutes), and accept each
assertion once (RFC 7523 §3 item 7): its `jti` is remembered in the database until it
expires, so that no instance behind the load balancer accepts it a second time."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet

from idp.db import off_loop
from idp.models import Client
from idp.security.outbound import Refused
from idp.store import assertions

if TYPE_CHECKING:
    from idp.oauth.server import EstablishmentServer

log = logging.getLogger(__name__)

_JWKS_TTL = 300.0
# A failed fetch is remembered a little while too: a module whose endpoint is down or slow
# must not make every one of its requests wait for it again.
_JWKS_FAILURE_TTL = 10.0
# Key sets kept per process (one server per establishment): the least recently used leaves.
_JWKS_CACHE_SIZE = 64
_LEEWAY = 60
# The longest an assertion may live, from its `iat` (or from now, without one): RFC 7523
# §3 lets the server limit it, and a short life bounds how long a leaked one is worth
# replaying to an instance whose record of spent ids was lost.
MAX_ASSERTION_LIFETIME = 300
# A JWK Set is a few kilobytes; a module's endpoint may not make us read more.
_JWKS_MAX_BYTES = 64 * 1024


class PrivateKeyJwt(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: EstablishmentServer) -> None:
        super().__init__(validate_jti=True, leeway=_LEEWAY)
        self.server = server
        self._jwks: OrderedDict[tuple[str, str], tuple[float, KeySet | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get_audiences(self) -> list[str]:
        server = self.server
        return [
            server.endpoint("token"),
            server.issuer,
            server.endpoint("revoke"),
            server.endpoint("introspect"),
        ]

    def verify_claims(self, claims: Any) -> None:
        exp, iat = claims.get("exp"), claims.get("iat")
        if _numeric(exp):
            # Without `iat`, the client's clock may run ahead of ours: the usual leeway.
            start, slack = (iat, 0) if _numeric(iat) else (time.time(), _LEEWAY)
            try:
                too_long = exp - start > MAX_ASSERTION_LIFETIME + slack
            except OverflowError:  # an integer no float can hold
                too_long = True
            if too_long:
                raise InvalidClientError(
                    description="The assertion must expire within 5 minutes of its issue."
                )
        # Then the registered claims (a non-numeric `exp` or `iat` is refused there), the
        # audience, and the assertion id.
        super().verify_claims(claims)

    def resolve_client_public_key(self, client: Client) -> KeySet:
        if client.jwks:
            return KeySet.import_key_set(client.jwks)
        if not client.jwks_uri:
            raise InvalidClientError(description="The client has no registered keys.")
        now = time.monotonic()
        # By URL too: a client whose jwks_uri changes is not served the old one's keys.
        cache_key = (client.client_id, client.jwks_uri)
        with self._lock:
            cached = self._jwks.get(cache_key)
            if cached and cached[0] > now:
                self._jwks.move_to_end(cache_key)
                if cached[1] is None:
                    raise InvalidClientError(description="The client's keys cannot be fetched.")
                return cached[1]
        # The network: never on the event loop (a quick call goes to a worker thread).
        off_loop()
        # Nothing is written before the client is authenticated: end the transaction, so
        # that no lock (SQLite's write lock) nor idle transaction waits on the module.
        session = self.server.db
        if session.in_transaction() and not (session.new or session.dirty or session.deleted):
            session.commit()
        keys: KeySet | None = None
        try:
            # Only to a public address (checked again now: DNS changes), no redirect, all
            # within a few seconds.
            body = self.server.rt.outbound.get(client.jwks_uri, max_bytes=_JWKS_MAX_BYTES)
            keys = KeySet.import_key_set(json.loads(body))
        except Refused as exc:
            log.warning("jwks_uri of client %s refused: %s", client.client_id, exc.reason)
        except (httpx.HTTPError, ValueError, TypeError, KeyError) as exc:
            log.info("jwks_uri of client %s failed: %s", client.client_id, type(exc).__name__)
        with self._lock:
            ttl = _JWKS_TTL if keys is not None else _JWKS_FAILURE_TTL
            self._jwks[cache_key] = (time.monotonic() + ttl, keys)
            self._jwks.move_to_end(cache_key)
            while len(self._jwks) > _JWKS_CACHE_SIZE:
                self._jwks.popitem(last=False)
        if keys is None:
            raise InvalidClientError(description="The client's keys cannot be fetched.")
        return keys

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        """True the first time the client presents this assertion id, on any instance.

        Called once the signature and `exp` have been verified, `exp` against the system
        clock (joserfc's), so the record's expiry is judged by that clock too.
        """
        if not isinstance(jti, str) or not jti:
            return False
        try:
            expires_at = datetime.fromtimestamp(int(claims["exp"]) + _LEEWAY, UTC)
        except (OverflowError, OSError, ValueError):  # an `exp` no datetime can hold
            raise InvalidClientError(description="Invalid claim: 'exp'") from None
        # The request's unit of work: the id is spent when the request commits. A concurrent
        # request inserting the same key waits for that commit (PostgreSQL) or for the write
        # lock (SQLite), then finds it.
        session = self.server.db
        return assertions.remember(
            session,
            self.server.establishment(session),
            str(claims["sub"]),
            jti,
            expires_at=expires_at,
            now=datetime.now(UTC),
        )


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
