"""The client's address: the peer, or, when the peer is a trusted reverse proxy
(IDP_TRUSTED_PROXIES), the nearest untrusted address of X-Forwarded-For."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def client_ip(request: Request, trusted: Sequence[Network]) -> str | None:
    peer = request.client.host if request.client else None
    if peer is None:
        return None
    address = _parse(peer)
    if address is None or not any(address in net for net in trusted):
        return peer
    # Right to left: each trusted proxy appended the address it received from.
    hops = [h for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        parsed = _parse(hop)
        if parsed is None:
            return peer  # a malformed header: trust nothing in it
        if not any(parsed in net for net in trusted):
            return str(parsed)
    return peer
