"""Outbound requests (finding 1 of the outside review, SSRF): every notation of an address
the C library accepts, IPv6 forms that lead to an IPv4 address, names and what they resolve
to; registration refused in the console and the CLI; the transport connects to the address
it checked, with the name kept for the Host header and TLS, and follows no redirect.

Names resolve through the real getaddrinfo where a name on this machine does what the test
needs (`localhost`); a name that must resolve to a chosen address (a public one, or a
private one no /etc/hosts entry gives) goes through the runtime's resolver seam."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from html import unescape

import httpx
import pytest
import uvicorn
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from helpers import UAI_A, csrf_from, self_signed, sign_in
from idp.models import Client
from idp.runtime import build_runtime
from idp.security.outbound import Outbound, Refused, is_loopback_name, is_public, literal
from idp.services import accounts, establishments
from oauth_support import Listener, free_port

PROD = Outbound(allow_loopback=False)
DEV = Outbound(allow_loopback=True)
PUBLIC_V4 = "93.184.215.14"
ADMIN_PASSWORD = "un mot de passe de secrétariat assez long"


# -- the parser ----------------------------------------------------------------------------

# (host as it may appear in a URL, the address it is, or None for a name)
HOSTILE = [
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0x7f.0.0.1", "127.0.0.1"),
    ("0X7F.0X0.0X0.0X1", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
    ("127.000.000.001", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("127.1.", "127.0.0.1"),
    ("169.254.43518", "169.254.169.254"),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
    ("0251.0376.0251.0376", "169.254.169.254"),
    ("2852039166", "169.254.169.254"),
    ("169.16689662", "169.254.169.254"),
    ("10.1", "10.0.0.1"),
    ("012.0.0.1", "10.0.0.1"),
    ("192.168.1", "192.168.0.1"),
    ("172.16.0.1", "172.16.0.1"),
    ("100.64.0.1", "100.64.0.1"),
    ("0", "0.0.0.0"),  # noqa: S104 - an address refused, not bound
    ("0x", "0.0.0.0"),  # noqa: S104
    ("0.0.0.0", "0.0.0.0"),  # noqa: S104
    ("224.0.0.1", "224.0.0.1"),
    ("255.255.255.255", "255.255.255.255"),
    ("１２７。０。０。１", "127.0.0.1"),  # fullwidth digits and ideographic dots (IDNA)
    ("127。0。0。1", "127.0.0.1"),
    ("::1", "::1"),
    ("[::1]", "::1"),
    ("::", "::"),
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ("::ffff:7f00:1", "::ffff:127.0.0.1"),
    ("0:0:0:0:0:ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ("::ffff:169.254.169.254", "::ffff:169.254.169.254"),
    ("::127.0.0.1", "::127.0.0.1"),  # IPv4-compatible
    ("::ffff:0:a00:1", "::ffff:0:10.0.0.1"),  # IPv4-translated
    ("64:ff9b::127.0.0.1", "64:ff9b::7f00:1"),  # NAT64
    ("64:ff9b::a9fe:a9fe", "64:ff9b::a9fe:a9fe"),
    ("64:ff9b:1::a00:1", "64:ff9b:1::a00:1"),
    ("2002:7f00:1::1", "2002:7f00:1::1"),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::", "2002:a9fe:a9fe::"),
    ("2001::1", "2001::1"),  # Teredo
    ("fe80::1", "fe80::1"),
    ("FE80::1", "fe80::1"),
    ("fc00::1", "fc00::1"),
    ("fd12:3456::1", "fd12:3456::1"),
    ("fec0::1", "fec0::1"),  # site-local
    ("ff02::1", "ff02::1"),
    ("2001:db8::1", "2001:db8::1"),
    ("localhost", None),
    ("LOCALHOST", None),
    ("localhost.", None),
    ("LocalHost.", None),
    ("module.localhost", None),
    ("metadata.google.internal", None),
    ("metadata.google.internal.", None),
    ("METADATA.Google.Internal.", None),
    ("metadata", None),
    ("instance-data", None),
    ("printer.local", None),
    ("router.lan", None),
    ("nas.home.arpa", None),
    ("1.0.0.127.in-addr.arpa.", None),
    ("vm", None),
    ("ⓛocalhost", None),  # IDNA maps the circled letter to a plain l
]

NOT_HOSTS = [
    "fe80::1%eth0",
    "fe80::1%25eth0",
    "[fe80::1%25lo]",
    "08.0.0.1",
    "0x7g.0.0.1",
    "1.2.3.4.5",
    "256.0.0.1",
    "1.2.3.16777216",
    "4294967296",
    "example.123",
    "::ffff:127.1",
    "1::2::3",
    "a b",
    "user@host",
    "",
]


@pytest.mark.parametrize(("host", "address"), HOSTILE)
def test_every_notation_of_a_non_public_host_is_refused(host, address):
    if address is not None:
        assert literal(host) == ipaddress.ip_address(address)
        assert not is_public(literal(host))
    else:
        assert literal(host) is None
    for outbound in (PROD, DEV):
        if outbound is DEV and is_loopback_name(host):
            continue  # loopback names are development's modules
        if outbound is DEV and address is not None and _loopback(address):
            continue
        with pytest.raises(Refused):
            outbound.addresses(host, 443)
    with pytest.raises(Refused):
        PROD.check_url(f"https://{_in_url(host)}/backchannel", resolve=True)


@pytest.mark.parametrize("host", NOT_HOSTS)
def test_what_is_no_valid_host_is_refused_not_resolved(host):
    def resolver(name: str, port: int) -> list[str]:
        raise AssertionError(f"{name!r} was sent to the resolver")

    with pytest.raises(Refused):
        Outbound(allow_loopback=True, resolver=resolver).addresses(host, 443)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("8.8.8.8", "8.8.8.8"),
        ("0x8.0x8.0x8.0x8", "8.8.8.8"),
        ("134744072", "8.8.8.8"),
        ("010.010.010.010", "8.8.8.8"),
        ("2606:4700:4700::1111", "2606:4700:4700::1111"),
        ("::ffff:8.8.8.8", "::ffff:8.8.8.8"),  # judged by the IPv4 address it leads to
        ("64:ff9b::808:808", "64:ff9b::808:808"),
        ("2002:808:808::1", "2002:808:808::1"),
    ],
)
def test_public_addresses_are_allowed_in_any_notation(host, address):
    assert PROD.addresses(host, 443) == [ipaddress.ip_address(address)]


def _loopback(address: str) -> bool:
    parsed = ipaddress.ip_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        mapped = parsed.ipv4_mapped or (
            ipaddress.IPv4Address(int(parsed) & 0xFFFFFFFF)
            if int(parsed) >> 32 in (0, 0xFFFF0000, 0x0064FF9B0000000000000000) and int(parsed) > 1
            else None
        )
        mapped = mapped or parsed.sixtofour
        return (mapped or parsed).is_loopback
    return parsed.is_loopback


def _in_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _part(value: int, base: str) -> str:
    if base == "dec":
        return str(value)
    if base == "oct":
        return "0" + format(value, "o")
    return "0x" + format(value, "x")


@st.composite
def notations(draw: st.DrawFn) -> tuple[int, str, bool]:
    """An IPv4 address as an integer, one way inet_aton may spell it, and whether the C
    library reads it (a final dot is left to the resolver)."""
    number = draw(st.integers(0, 2**32 - 1))
    parts = draw(st.integers(1, 4))
    packed = number.to_bytes(4, "big")
    values = [*packed[: parts - 1], int.from_bytes(packed[parts - 1 :], "big")]
    bases = draw(st.lists(st.sampled_from(["dec", "oct", "hex"]), min_size=parts, max_size=parts))
    text = ".".join(_part(v, b) for v, b in zip(values, bases, strict=True))
    text = "".join(c.upper() if draw(st.booleans()) else c for c in text)
    dot = draw(st.booleans())
    return number, text + ("." if dot else ""), not dot


@given(notations())
def test_every_ipv4_notation_classifies_like_the_integer(case):
    number, notation, c_library = case
    expected = ipaddress.ip_address(number)
    if c_library:  # the C library reads it as that address too: we agree with it
        assert socket.inet_aton(notation) == expected.packed
    assert literal(notation) == expected
    allowed = is_public(expected)
    for host in (notation, f"::ffff:{expected}", f"64:ff9b::{expected}"):
        try:
            PROD.addresses(host, 443)
            assert allowed, host
        except Refused:
            assert not allowed, host


@given(st.integers(0, 2**32 - 1))
def test_6to4_leads_to_its_ipv4_address(number):
    v4 = ipaddress.IPv4Address(number)
    six = ipaddress.IPv6Address((0x2002 << 112) | (number << 80) | 1)
    assert is_public(six) == is_public(v4)


# -- resolution ----------------------------------------------------------------------------


def fixed(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    """A resolver answering from `table` (the seam: no name here resolves to these)."""

    def resolve(name: str, port: int) -> list[str]:
        if name not in table:
            raise socket.gaierror(socket.EAI_NONAME, name)
        return table[name]

    return resolve


def test_a_name_is_refused_if_any_of_its_addresses_is_not_public():
    names = {
        "sti.cpro.example": [PUBLIC_V4],
        "mixed.cpro.example": [PUBLIC_V4, "10.0.0.7"],
        "meta.cpro.example": ["169.254.169.254"],
        "mapped.cpro.example": ["::ffff:10.0.0.7"],
        "scoped.cpro.example": ["fe80::1%eth0"],
    }
    outbound = Outbound(allow_loopback=False, resolver=fixed(names))
    assert outbound.addresses("STI.cpro.example.", 443) == [ipaddress.ip_address(PUBLIC_V4)]
    for name in ("mixed", "meta", "mapped", "scoped"):
        with pytest.raises(Refused, match="resolves to"):
            outbound.addresses(f"{name}.cpro.example", 443)
    with pytest.raises(socket.gaierror):
        outbound.addresses("unknown.cpro.example", 443)


def test_real_resolution_of_loopback_names():
    """getaddrinfo itself: `localhost` resolves to loopback here, allowed in development
    only; this machine's own name is one label, refused before it is resolved."""
    assert ipaddress.ip_address("127.0.0.1") in DEV.addresses("localhost", 80)
    with pytest.raises(Refused):
        PROD.addresses("localhost", 80)
    hostname = socket.gethostname()
    with pytest.raises(Refused):
        PROD.addresses(hostname, 80)
    resolved = {info[4][0] for info in socket.getaddrinfo(hostname, 80)}
    for text in resolved:  # what it resolves to is refused as such, too
        with pytest.raises(Refused):
            PROD.check_address(ipaddress.ip_address(text))


def test_development_allows_loopback_and_nothing_else_private():
    names = {"module.cpro.example": ["127.0.0.1", "10.0.0.7"]}
    outbound = Outbound(allow_loopback=True, resolver=fixed(names))
    assert outbound.addresses("127.1", 80) == [ipaddress.ip_address("127.0.0.1")]
    outbound.check_url("http://localhost:8001/bc", resolve=True)
    outbound.check_url("http://[::1]:8001/bc", resolve=True)
    for uri in (
        "http://10.0.0.7/bc",
        "https://169.254.43518/latest/meta-data",
        "https://module.cpro.example/bc",  # one of its addresses is private
        "http://sti.cpro.example/bc",  # http only to loopback
        "https://user:pw@localhost/bc",
        "ftp://localhost/bc",
    ):
        with pytest.raises(Refused):
            outbound.check_url(uri, resolve=True)


# -- the transport -------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[Listener]:
    listening = Listener()
    yield listening
    listening.close()


class Server:
    """A real HTTP(S) server on loopback (uvicorn) that records the Host header it got."""

    def __init__(self, certfile: str | None = None, keyfile: str | None = None) -> None:
        self.hosts: list[str] = []
        self.port = free_port()

        async def index(request: Request) -> PlainTextResponse:
            self.hosts.append(request.headers["host"])
            return PlainTextResponse("ok")

        async def big(request: Request) -> PlainTextResponse:
            return PlainTextResponse("x" * 100_000)

        async def moved(request: Request) -> RedirectResponse:
            self.hosts.append(request.headers["host"])
            return RedirectResponse(str(request.url_for("index")), status_code=302)

        async def drip(request: Request) -> StreamingResponse:
            async def slowly() -> AsyncIterator[bytes]:
                for _ in range(100):
                    yield b" "
                    await asyncio.sleep(0.2)

            return StreamingResponse(slowly(), media_type="application/json")

        async def packed(request: Request) -> Response:
            body = gzip.compress(b'{"keys": []}' + b" " * 1_000_000)
            return Response(body, headers={"Content-Encoding": "gzip"})

        app = Starlette(
            routes=[
                Route("/", index, name="index"),
                Route("/big", big),
                Route("/moved", moved),
                Route("/drip", drip),
                Route("/packed", packed),
            ]
        )
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
                ssl_certfile=certfile,
                ssl_keyfile=keyfile,
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


def test_the_transport_connects_to_the_address_it_checked(server):
    """One lookup, by the transport; the connection goes to its answer, the Host header
    keeps the name."""
    lookups: list[str] = []

    def resolve(name: str, port: int) -> list[str]:
        lookups.append(name)
        return ["127.0.0.1"]

    outbound = Outbound(allow_loopback=True, resolver=resolve)
    with outbound.client() as http:
        response = http.get(f"http://module.cpro.example:{server.port}/")
    assert response.text == "ok"
    assert lookups == ["module.cpro.example"]
    assert server.hosts == [f"module.cpro.example:{server.port}"]


def test_the_next_checked_address_is_tried_a_few_times_at_most(server):
    """The server listens on 127.0.0.1 only: 127.0.0.2 and 127.0.0.3 refuse at once."""
    names = {
        "third.cpro.example": ["127.0.0.2", "127.0.0.3", "127.0.0.1"],
        "fourth.cpro.example": ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.1"],
    }
    outbound = Outbound(allow_loopback=True, resolver=fixed(names))
    with outbound.client() as http:
        assert http.get(f"http://third.cpro.example:{server.port}/").text == "ok"
        with pytest.raises(httpx.ConnectError):
            http.get(f"http://fourth.cpro.example:{server.port}/")
    assert server.hosts == [f"third.cpro.example:{server.port}"]


def test_a_name_that_now_resolves_to_loopback_is_not_contacted(listener):
    """DNS rebinding: public when it was registered, loopback now. The transport's own
    lookup is the one that counts: nothing reaches the listener."""
    names = {"sti.cpro.example": [PUBLIC_V4]}
    outbound = Outbound(allow_loopback=False, resolver=fixed(names))
    uri = f"https://sti.cpro.example:{listener.port}/jwks"
    outbound.check_url(uri, resolve=True)  # public at registration
    names["sti.cpro.example"] = ["127.0.0.1"]
    with pytest.raises(Refused, match=r"resolves to 127\.0\.0\.1"), outbound.client() as http:
        http.get(uri)
    with pytest.raises(Refused):
        outbound.get(uri, max_bytes=1000)
    # An address in the URL itself, in a notation httpx passes on as it is.
    with pytest.raises(Refused), outbound.client() as http:
        http.get(f"https://127.1:{listener.port}/")
    time.sleep(0.3)
    assert listener.connections == 0


def test_a_redirect_is_never_followed(server):
    with DEV.client() as http:
        response = http.get(f"http://127.0.0.1:{server.port}/moved")
    assert response.status_code == 302
    assert len(server.hosts) == 1, "the redirect's target was not asked"
    with pytest.raises(httpx.HTTPStatusError):
        DEV.get(f"http://127.0.0.1:{server.port}/moved", max_bytes=1000)
    assert len(server.hosts) == 2


def test_get_reads_a_bounded_answer(server):
    assert DEV.get(f"http://127.0.0.1:{server.port}/", max_bytes=10) == b"ok"
    with pytest.raises(ValueError, match="more than"):
        DEV.get(f"http://127.0.0.1:{server.port}/big", max_bytes=10_000)


def test_an_answer_sent_a_byte_at_a_time_ends_at_the_deadline(server):
    """Each byte comes well within the read timeout; the whole answer never would."""
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        DEV.get(f"http://127.0.0.1:{server.port}/drip", max_bytes=10_000, deadline=1.0)
    assert time.monotonic() - started < 2.0


def test_a_compressed_answer_is_refused_unread(server):
    """Identity only was asked for: 1 MB packed in a few kilobytes is not expanded."""
    with pytest.raises(ValueError, match="compressed"):
        DEV.get(f"http://127.0.0.1:{server.port}/packed", max_bytes=64 * 1024)


@pytest.fixture
def tls(tmp_path):  # type: ignore[no-untyped-def]
    """A certificate for module.cpro.example only (no IP address in it), and a client
    context that trusts it."""
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    self_signed("module.cpro.example", certfile, keyfile)
    context = ssl.create_default_context(cafile=str(certfile))
    s = Server(str(certfile), str(keyfile))
    yield s, context
    s.stop()


def test_tls_is_verified_on_the_name_not_on_the_address(tls):
    """The connection goes to 127.0.0.1, the handshake names module.cpro.example (SNI) and
    the certificate is checked against it: an address in its place would not verify."""
    server, context = tls
    names = {"module.cpro.example": ["127.0.0.1"], "other.cpro.example": ["127.0.0.1"]}
    outbound = Outbound(allow_loopback=True, resolver=fixed(names), verify=context)
    with outbound.client() as http:
        assert http.get(f"https://module.cpro.example:{server.port}/").text == "ok"
        with pytest.raises(httpx.ConnectError, match="certificate"):
            http.get(f"https://other.cpro.example:{server.port}/")
        with pytest.raises(httpx.ConnectError, match="certificate"):
            http.get(f"https://127.0.0.1:{server.port}/")
    assert server.hosts == [f"module.cpro.example:{server.port}"]


# -- registration: the CLI and the console -------------------------------------------------

# Development (the tests' loopback IDP_BASE_URL) allows loopback; these are refused anyway.
DEV_REFUSED = [
    "https://169.254.43518/latest/meta-data/",
    "https://0xa9fe.43518/",
    "https://10.1/bc",
    "https://0x0a.0.0.1/bc",
    "https://[::ffff:10.0.0.1]/bc",
    "https://[64:ff9b::a9fe:a9fe]/bc",
    "https://metadata.google.internal./computeMetadata/v1/",
    "https://metadata/bc",
    "https://[fe80::1%25eth0]/bc",
    "https://user@sti.cpro.example/bc",
]


def count_clients(rt) -> int:  # type: ignore[no-untyped-def]
    with rt.database.session() as session:
        return session.scalar(select(func.count()).select_from(Client))


@pytest.mark.parametrize("uri", DEV_REFUSED)
def test_the_cli_refuses_an_internal_backchannel_or_jwks_uri(idp, rt, school, uri):
    base = ("client", "add", school, "--name", "M", "--redirect-uri", "https://m.example/cb")
    for extra in (
        ("--backchannel-logout-uri", uri),
        ("--auth-method", "private_key_jwt", "--jwks-uri", uri),
    ):
        result = idp(*base, *extra)
        assert result.exit_code == 2, result.output
        assert "refused" in result.stderr and "Traceback" not in result.output
    assert count_clients(rt) == 0


@pytest.fixture
def production(settings, clock):  # type: ignore[no-untyped-def]
    """A runtime with an https IDP_BASE_URL (loopback is refused), whose names resolve from
    a table the test changes."""
    names: dict[str, list[str]] = {}
    rt = build_runtime(
        replace(settings, base_url="https://idp.cpro.example"), clock=clock, resolver=fixed(names)
    )
    yield rt, names
    rt.close()


@pytest.mark.parametrize(
    "uri",
    [
        "https://127.1/bc",
        "https://0177.0.0.1/bc",
        "https://0x7f.0.0.1/bc",
        "https://2130706433/bc",
        "https://localhost./bc",
        "https://LOCALHOST/bc",
        "https://[::ffff:127.0.0.1]/bc",
        "https://[::1]/bc",
        "https://internal.cpro.example/bc",
        "https://mixed.cpro.example/bc",
        "http://127.0.0.1:8001/bc",
    ],
)
def test_production_refuses_loopback_and_names_resolving_inside(production, uri):
    from click.testing import CliRunner

    from idp.cli import cli

    rt, names = production
    names["internal.cpro.example"] = ["10.20.30.40"]
    names["mixed.cpro.example"] = [PUBLIC_V4, "127.0.0.1"]
    names["sti.cpro.example"] = [PUBLIC_V4]
    rt.run(
        establishments.create,
        code="lp-a",
        name="Lycée professionnel A",
        uai_code=UAI_A,
        email="secretariat@lp-a.example",
        send_welcome=False,
    )
    run = CliRunner().invoke
    base = ["client", "add", "lp-a", "--name", "M", "--redirect-uri", "https://m.example/cb"]
    refused = run(cli, [*base, "--backchannel-logout-uri", uri], obj=rt)
    assert refused.exit_code == 2 and "refused" in refused.stderr, refused.output
    assert count_clients(rt) == 0
    ok = run(cli, [*base, "--backchannel-logout-uri", "https://sti.cpro.example/bc"], obj=rt)
    assert ok.exit_code == 0, ok.output


@pytest.fixture
def admin(client, rt, school):  # type: ignore[no-untyped-def]
    rt.run(accounts.set_password, school, "0750655e", ADMIN_PASSWORD, temporary=False)
    assert sign_in(client, school, "0750655E", ADMIN_PASSWORD).status_code == 303
    return client


def test_the_console_refuses_internal_addresses_with_a_french_message(admin, rt, school):
    def form(uri: str) -> dict[str, str]:
        return {
            "csrf_token": csrf_from(admin.get(f"/{school}/admin/clients/new").text),
            "name": "C Pro STI",
            "redirect_uris": "https://sti.cpro.example/cb",
            "post_logout_redirect_uris": "",
            "backchannel_logout_uri": uri,
            "kind": "confidential",
            "id_token_alg": "RS256",
        }

    for uri in DEV_REFUSED:
        page = admin.post(f"/{school}/admin/clients/new", data=form(uri))
        assert page.status_code == 400, uri
        assert "Adresse refusée" in unescape(page.text)
        assert "jamais une adresse locale, privée ou réservée" in unescape(page.text)
    assert count_clients(rt) == 0

    # An edit is checked the same way.
    created = admin.post(f"/{school}/admin/clients/new", data=form("https://sti.cpro.example/bc"))
    assert created.status_code == 303
    with rt.database.session() as session:
        client_id = session.scalar(select(Client.client_id))
    edited = admin.post(f"/{school}/admin/clients/{client_id}", data=form("https://169.254.43518/"))
    assert edited.status_code == 400 and "Adresse refusée" in unescape(edited.text)
    with rt.database.session() as session:
        assert session.scalar(select(Client.backchannel_logout_uri)) == (
            "https://sti.cpro.example/bc"
        )
