"""Security headers on every response (README, "Signing in")."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        headers = dict(_HEADERS)
        if hsts:
            headers["strict-transport-security"] = "max-age=63072000; includeSubDomains"
        # Encoded once; added as raw ASGI headers (cheaper than MutableHeaders per response).
        self.raw = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                given = list(message.get("headers", ()))
                # A header the handler set itself (a page that may be framed) is kept.
                present = {name.lower() for name, _ in given}
                message["headers"] = given + [h for h in self.raw if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)
