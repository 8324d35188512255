"""Signed values (itsdangerous) for cookies and form tokens, one salt per purpose so that a
value signed for one use is worthless for another."""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from idp.clock import Clock, SystemClock


class Expired(Exception):
    pass


class Invalid(Exception):
    pass


class Signer:
    def __init__(self, secret_key: str, purpose: str, clock: Clock | None = None) -> None:
        # itsdangerous reads time.time(); ours reads the injected clock, so that expiry
        # is testable without sleeping.
        timestamps = type("ClockTimestampSigner", (TimestampSigner,), {})
        timestamps.get_timestamp = lambda _self: int((clock or SystemClock()).now().timestamp())
        self._serializer = URLSafeTimedSerializer(
            secret_key, salt=f"cpro-connect/{purpose}", signer=timestamps
        )

    def sign(self, value: Any) -> str:
        return self._serializer.dumps(value)

    def unsign(self, token: str | None, *, max_age: float) -> Any:
        """The value, or Expired / Invalid."""
        if not token:
            raise Invalid
        try:
            return self._serializer.loads(token, max_age=max_age)
        except SignatureExpired:
            raise Expired from None
        except BadSignature:
            raise Invalid from None
