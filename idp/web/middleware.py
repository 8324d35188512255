"""Security headers on every response (README, "Signing in")."""

from __future__ import annotations

from collections.abc import Iterable

# No 'unsafe-inline' anywhere; no form-action (Chromium applies it to the redirect after a
# login POST, which would break the return to a module).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)

_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


class SecurityHeaders:
    """The headers above, added to every response by `RequestContext` (one wrapper of
    `send` for both: each layer of middleware costs a cheap request a few percent)."""

    def __init__(self, *, hsts: bool = False) -> None:
        headers = dict(_HEADERS)
        if hsts:
            headers["strict-transport-security"] = "max-age=63072000; includeSubDomains"
        # Encoded once; added as raw ASGI headers (cheaper than MutableHeaders per response).
        self.raw = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        ]

    def add(self, given: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The response's headers with ours; a header the handler set itself (a page that
        may be framed) is kept."""
        given = list(given)
        present = {name.lower() for name, _ in given}
        return given + [h for h in self.raw if h[0] not in present]
