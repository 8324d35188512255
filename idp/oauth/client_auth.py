"""private_key_jwt client authentication (RFC 7523 §2.2, OIDC Core §9): the module signs
an assertion with its own key; we verify it with the keys it registered (inline, or at its
jwks_uri, fetched with a short timeout and cached for a few minutes)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet

from idp.models import Client

if TYPE_CHECKING:
    from idp.oauth.server import EstablishmentServer

_JWKS_TTL = 300.0
_JTI_TTL = 600.0


class PrivateKeyJwt(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: EstablishmentServer) -> None:
        super().__init__(validate_jti=True, leeway=60)
        self.server = server
        self._jwks: dict[str, tuple[float, KeySet]] = {}
        # Assertion ids already seen (RFC 7523 §3 item 7), kept past the assertions' life.
        # Per process: instances behind a load balancer each keep their own.
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def get_audiences(self) -> list[str]:
        issuer = self.server.issuer
        return [
            f"{issuer}/oidc/token",
            issuer,
            f"{issuer}/oidc/revoke",
            f"{issuer}/oidc/introspect",
        ]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        if client.jwks:
            return KeySet.import_key_set(client.jwks)
        if not client.jwks_uri:
            raise InvalidClientError(description="The client has no registered keys.")
        now = time.monotonic()
        with self._lock:
            cached = self._jwks.get(client.client_id)
        if cached and cached[0] > now:
            return cached[1]
        try:
            response = httpx.get(client.jwks_uri, timeout=5, follow_redirects=False)
            response.raise_for_status()
            keys = KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, TypeError, KeyError) as exc:
            raise InvalidClientError(description="The client's keys cannot be fetched.") from exc
        with self._lock:
            self._jwks[client.client_id] = (now + _JWKS_TTL, keys)
        return keys

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        now = time.monotonic()
        key = f"{claims.get('sub')}:{jti}"
        with self._lock:
            self._seen = {k: t for k, t in self._seen.items() if t > now}
            if key in self._seen:
                return False
            self._seen[key] = now + _JTI_TTL
        return True
