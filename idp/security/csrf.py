"""CSRF tokens bound to a pre-session cookie (a random id set before any sign-in).

A form carries `sign(presession id)`; a POST is accepted when the token is valid, recent,
and names the id in the browser's cookie. An expired token (a login page left open over the
weekend) is told apart from a forged one, so that the page can simply be shown again.
"""

from __future__ import annotations

import hmac
import secrets
from enum import Enum

from idp.clock import Clock
from idp.security.signing import Expired, Invalid, Signer

FIELD = "csrf_token"


class CsrfCheck(Enum):
    OK = "ok"
    EXPIRED = "expired"
    INVALID = "invalid"


class Csrf:
    def __init__(
        self, secret_key: str, *, max_age: float = 4 * 3600, clock: Clock | None = None
    ) -> None:
        self._signer = Signer(secret_key, "csrf", clock)
        self.max_age = max_age

    @staticmethod
    def new_presession_id() -> str:
        return secrets.token_urlsafe(24)

    def token(self, presession_id: str) -> str:
        return self._signer.sign(presession_id)

    def check(self, token: str | None, presession_id: str | None) -> CsrfCheck:
        try:
            value = self._signer.unsign(token, max_age=self.max_age)
        except Expired:
            return CsrfCheck.EXPIRED
        except Invalid:
            return CsrfCheck.INVALID
        if not presession_id or not isinstance(value, str):
            # No cookie: it expired with the browser session, or was never set here.
            return CsrfCheck.EXPIRED if presession_id is None else CsrfCheck.INVALID
        return CsrfCheck.OK if hmac.compare_digest(value, presession_id) else CsrfCheck.INVALID
