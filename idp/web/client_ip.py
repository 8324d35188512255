"""The client's address: the peer, or, when the peer is a trusted reverse proxy
(IDP_TRUSTED_PROXIES), the nearest untrusted address of X-Forwarded-For. What else such a
proxy says (X-Forwarded-Proto, X-Request-ID) is read in idp.web.request_context."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(value: str) -> Address | None:
    """An address as proxies write it: `203.0.113.5`, `203.0.113.5:4711`, `[2001:db8::1]:443`,
    `fe80::1%eth0` (the port and the zone are dropped)."""
    text = value.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    text = text.split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _within(address: Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(address in net for net in trusted)


def is_trusted(peer: tuple[str, int] | list[object] | None, trusted: Sequence[Network]) -> bool:
    """Whether the ASGI `client` (host, port) is one of the trusted reverse proxies."""
    if not peer:
        return False
    return _within(_parse(str(peer[0])), trusted)


def client_ip(request: Request, trusted: Sequence[Network]) -> str | None:
    peer = request.client.host if request.client else None
    if peer is None:
        return None
    address = _parse(peer)
    if not _within(address, trusted):
        return str(address) if address else peer[:45]
    # Right to left: each trusted proxy appended the address it received from. Every
    # header line counts: some proxies add a line of their own rather than append.
    lines = request.headers.getlist("x-forwarded-for")
    hops = [h for h in ",".join(lines).split(",") if h.strip()]
    for hop in reversed(hops):
        parsed = _parse(hop)
        if parsed is None:
            return str(address)  # a malformed header: trust nothing in it
        if not _within(parsed, trusted):
            return str(parsed)
    return str(address)
