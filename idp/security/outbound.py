"""Requests the provider makes itself, to an address a module registered (its back-channel
logout URI, its jwks_uri): never to the provider's own network (SSRF).

A host is classified the way the C library would read it (`127.1`, `0177.0.0.1`,
`0x7f.0.0.1` and `2130706433` are all 127.0.0.1: inet_aton accepts them, so getaddrinfo
does), an IPv6 address by the IPv4 address it carries (mapped, compatible, NAT64, 6to4), a
name by every address it resolves to: one that is not public refuses the host. At
registration this tells the admin at once; at send time the transport resolves, checks, and
connects to the very address it checked (no second lookup for a DNS rebinding to win), while
the Host header, the TLS SNI and the certificate check stay on the name. Redirects are
never followed, proxies from the environment never used, timeouts are short.

Development: with a loopback IDP_BASE_URL, modules run on loopback too, so loopback
addresses (and http to a loopback host) are allowed; nothing else that is not public is.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from urllib.parse import urlsplit

import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as strings; getaddrinfo by default. Tests
# inject one to make a name resolve to an address no name here resolves to.
Resolver = Callable[[str, int], Sequence[str]]

TIMEOUT = httpx.Timeout(5.0, connect=3.0)
# The longest one request may take in all: httpx's timeouts bound each read, so a peer
# sending a byte every few seconds would otherwise hold a thread (and its lease) for hours.
DEADLINE = 5.0

# Names that never leave the machine or the site (RFC 6761, RFC 8375, cloud metadata),
# whatever a resolver answers for them today.
_LOOPBACK_NAMES = re.compile(r"(?:.+\.)?localhost")
_LOCAL_SUFFIXES = (
    ".local",
    ".localdomain",
    ".internal",
    ".intranet",
    ".lan",
    ".home",
    ".corp",
    ".private",
    ".home.arpa",
    ".arpa",
    ".invalid",
    ".onion",
)
# The last label of a host the C library reads as an IPv4 address (WHATWG's "ends in a
# number"): decimal, octal with a leading 0, or hex with 0x.
_NUMERIC = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_MAX_ATTEMPTS = 3


class Refused(Exception):
    """The provider does not call this address. `reason` is for logs (English, no secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- reading a host ------------------------------------------------------------------------


def _ipv4_part(text: str) -> int:
    if text[:2].lower() == "0x":
        return int(text[2:] or "0", 16)
    if len(text) > 1 and text[0] == "0":
        return int(text, 8)  # ValueError on 8 or 9: inet_aton refuses those too
    return int(text, 10)


def parse_ipv4(host: str) -> ipaddress.IPv4Address:
    """inet_aton's reading: one to four parts, each decimal, octal or hex, the last one
    filling the bytes left (`127.1`, `10.0x10203`, `2130706433`). ValueError otherwise."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC.fullmatch(p) for p in parts):
        raise ValueError(host)
    values = [_ipv4_part(p) for p in parts]
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise ValueError(host)
    number = last
    for i, v in enumerate(head):
        number |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def normalise(host: str) -> str:
    """The ASCII, lower-case host without its trailing dot (`LOCALHOST.` is `localhost`;
    `１２７。０。０。１` is `127.0.0.1`, as IDNA maps it). Refused when it is not a host."""
    host = host.strip("[]")
    if not host or any(c.isspace() or c in "/\\@%" for c in host):
        # `%`: an IPv6 zone id names one of the provider's own interfaces.
        raise Refused(f"{host!r} is not a host name")
    if ":" not in host:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise Refused(f"{host!r} is not a valid host name") from None
    host = host.lower()
    return host[:-1] if host.endswith(".") else host


def literal(host: str) -> Address | None:
    """The address a host spells (in any notation), or None for a name. Refused: a host
    that looks like an address but is not a valid one (never sent to a resolver)."""
    host = normalise(host)
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise Refused(f"{host!r} is not a valid IPv6 address") from None
    if _NUMERIC.fullmatch(host.rsplit(".", 1)[-1]):
        try:
            return parse_ipv4(host)
        except ValueError:
            raise Refused(f"{host!r} is not a valid IPv4 address") from None
    return None


# -- classifying an address ----------------------------------------------------------------


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to: mapped (::ffff:a.b.c.d), translated,
    compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:aabb:ccdd::)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    number = int(address)
    if (number >> 32 == 0 and number > 1) or address in _NAT64 or address in _TRANSLATED:
        return ipaddress.IPv4Address(number & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    """Globally reachable unicast (the IANA special-purpose registries, as ipaddress has
    them), judged for an IPv6 address by the IPv4 address it carries, if any."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
        return address in _GLOBAL_UNICAST and address.is_global
    return address.is_global and not address.is_multicast


def is_loopback(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        return inner.is_loopback if inner is not None else address.is_loopback
    return address.is_loopback


def is_loopback_name(host: str) -> bool:
    """`localhost`, `*.localhost` (RFC 6761 §6.3), any case, with or without a final dot."""
    try:
        return _LOOPBACK_NAMES.fullmatch(normalise(host)) is not None
    except Refused:
        return False


def _getaddrinfo(host: str, port: int) -> list[str]:
    return [
        str(info[4][0])
        for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if info[0] in (socket.AF_INET, socket.AF_INET6)
    ]


class Outbound:
    """The rules, and the HTTP client that keeps them. One per runtime."""

    def __init__(
        self,
        *,
        allow_loopback: bool,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.allow_loopback = allow_loopback
        self._resolve = resolver or _getaddrinfo
        self._deadline = _Deadline()
        # Tests pass a context that trusts their own certificate authority.
        self._verify = verify

    def check_address(self, address: Address) -> None:
        if is_public(address) or (self.allow_loopback and is_loopback(address)):
            return
        kind = "loopback" if is_loopback(address) else "not public"
        raise Refused(f"{address} is {kind}")

    def check_name(self, host: str) -> None:
        """The rules a name must meet before anyone resolves it."""
        if _LOOPBACK_NAMES.fullmatch(host):
            if not self.allow_loopback:
                raise Refused(f"{host} is a loopback name")
        elif "." not in host or host.endswith(_LOCAL_SUFFIXES):
            raise Refused(f"{host} is not a public host name")

    def addresses(self, host: str, port: int) -> list[Address]:
        """Where a connection to `host` may go: all of its addresses, each one checked.
        Refused if any is not allowed (a name with one private address among public ones is
        an attacker's round robin); socket.gaierror if the name does not resolve."""
        address = literal(host)
        if address is not None:
            self.check_address(address)
            return [address]
        name = normalise(host)
        self.check_name(name)
        found: list[Address] = []
        for text in self._resolve(name, port):
            try:
                resolved = ipaddress.ip_address(text)
            except ValueError:  # `fe80::1%eth0`: scoped to one of our interfaces
                raise Refused(f"{name} resolves to {text}") from None
            try:
                self.check_address(resolved)
            except Refused as exc:
                raise Refused(f"{name} resolves to {exc.reason}") from None
            if resolved not in found:
                found.append(resolved)
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, f"{name} has no address")
        return found

    def check_url(self, uri: str, *, resolve: bool) -> None:
        """An address the provider may call: https (http only to a loopback host, in
        development), no user information, a host that is allowed; with `resolve`, every
        address its name has now (a name that does not resolve yet is left to send time)."""
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError:
            raise Refused("not a valid URL") from None
        scheme = parts.scheme.lower()
        host = parts.hostname
        if scheme not in ("http", "https") or not host:
            raise Refused("must be an https URL")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise Refused("must not hold user information")
        address = literal(host)
        if address is not None:
            self.check_address(address)
        else:
            self.check_name(normalise(host))
        loopback = is_loopback(address) if address is not None else is_loopback_name(host)
        if scheme == "http" and not (self.allow_loopback and loopback):
            raise Refused("must be an https URL")
        if resolve and address is None:
            # A name not in the DNS yet is left to send time: checked at each request.
            with contextlib.suppress(socket.gaierror, UnicodeError):
                self.addresses(host, port or (443 if scheme == "https" else 80))

    # -- sending ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def within(self, seconds: float = DEADLINE) -> Iterator[None]:
        """Every connection, read and write of the requests this thread makes inside ends
        by then (httpx's timeouts are per operation)."""
        kept = self._deadline.at
        self._deadline.at = time.monotonic() + seconds
        try:
            yield
        finally:
            self._deadline.at = kept

    def _left(self, timeout: float | None, expired: type[Exception]) -> float | None:
        """`timeout`, shortened to what is left before the thread's deadline."""
        at = self._deadline.at
        if at is None:
            return timeout
        left = at - time.monotonic()
        if left <= 0:
            raise expired("the request took too long")
        return left if timeout is None else min(timeout, left)

    def client(self, timeout: float | httpx.Timeout = TIMEOUT) -> httpx.Client:
        """An httpx client that connects only to allowed addresses and follows no redirect.
        A refused address raises Refused (not an httpx error: it is no network failure)."""
        return httpx.Client(
            transport=_Transport(self, self._verify),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        )

    def get(
        self,
        uri: str,
        *,
        max_bytes: int,
        timeout: float | httpx.Timeout = TIMEOUT,
        deadline: float = DEADLINE,
    ) -> bytes:
        """GET a small document (a JWK Set): its body if the answer is 200. Refused;
        httpx.HTTPError on a failure or another status; ValueError past `max_bytes`."""
        self.check_url(uri, resolve=False)
        # Uncompressed only: the limit counts what arrives, and a small compressed body may
        # expand a thousandfold.
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        with (
            self.within(deadline),
            self.client(timeout) as http,
            http.stream("GET", uri, headers=headers) as response,
        ):
            if response.status_code != 200:
                raise httpx.HTTPStatusError(
                    f"HTTP {response.status_code}", request=response.request, response=response
                )
            if response.headers.get("content-encoding", "identity").lower() != "identity":
                raise ValueError("a compressed answer, though none was accepted")
            body = bytearray()
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > max_bytes:
                    raise ValueError(f"more than {max_bytes} bytes")
            return bytes(body)


class _Backend(httpcore.NetworkBackend):
    """httpcore's own socket backend, given the checked address instead of the name."""

    def __init__(self, outbound: Outbound) -> None:
        self._outbound = outbound
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._outbound.addresses(host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"{host} does not resolve") from exc
        failure: Exception | None = None
        # The connect timeout is for all the attempts together (the outbox's lease counts on
        # it), and a few addresses at most are tried.
        timeout = self._outbound._left(timeout, httpcore.ConnectTimeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        for address in addresses[:_MAX_ATTEMPTS]:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                # TLS comes later, on this stream, with the URL's host as server_hostname.
                stream = self._inner.connect_tcp(
                    str(address), port, left, local_address, socket_options
                )
                return _Stream(stream, self._outbound)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectTimeout(f"{host}: no address answered in time")

    def connect_unix_socket(self, *args: object, **kwargs: object) -> httpcore.NetworkStream:
        raise Refused("no unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Deadline(threading.local):
    at: float | None = None


class _Stream(httpcore.NetworkStream):
    """A connection whose every wait ends by the deadline of the request using it."""

    def __init__(self, inner: httpcore.NetworkStream, outbound: Outbound) -> None:
        self._inner, self._outbound = inner, outbound

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._outbound._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._outbound._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = self._outbound._left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, left), self._outbound)

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _Transport(httpx.HTTPTransport):
    def __init__(self, outbound: Outbound, verify: ssl.SSLContext | bool) -> None:
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, trust_env=False)
        # httpx builds its connection pool without a way to pass a network backend: this
        # replaces it with the same pool on ours (tests/security/test_outbound.py fails if
        # an httpx release changes that).
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=10,
            max_keepalive_connections=10,
            network_backend=_Backend(outbound),
        )
