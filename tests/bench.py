"""`make bench`: how much load the provider takes, and what each answer costs it.

One real `idp serve` process (one worker by default, the production argon2id parameters, one
password hash at a time) runs pinned to CPU 1, on SQLite in a temporary folder or on the
PostgreSQL database given with `--database` (wiped first). This process is the load
generator, pinned to CPU 0: closed-loop simulated clients over a small raw HTTP/1.1
keep-alive client written here (httpx spends more CPU per request than the server does on
its cheap endpoints, so it would measure itself), at each concurrency level, for `--duration`
seconds after a warm-up.

Scenarios (one op each): discovery; JWKS; client_credentials; the whole password sign-in
(authorize, login page, login form, resume, token: 5 requests); SSO (authorize and token for
a browser already signed in); refresh-token rotation; userinfo; introspection. For each
scenario and concurrency: ops/s, requests/s, latency percentiles of an op, errors, and the
server's CPU per op and cores used, read from /proc for the server and its descendants
(PostgreSQL's processes too, which are not pinned).

Two floors are measured in the same run, on the same CPU: an argon2id verification (what
bounds a sign-in) and a bare Starlette endpoint behind uvicorn with the server's settings
(what bounds any request). Last, a bulk import of 5,000 accounts through the CLI.

A benchmark, never a timed test: the numbers depend on the machine and on whatever else runs
on it, so they are printed and written as JSON (`--json`) for a person to compare, run to
run on one machine; nothing is asserted against a threshold.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import html
import json
import math
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qs, quote, urlencode, urlsplit

IDP = str(Path(sys.executable).with_name("idp"))
HOST = "127.0.0.1"
SCHOOL = "banc"
PASSWORD = "des nuages blancs dans le ciel"
REDIRECT = "http://127.0.0.1:9999/cb"
SCOPE = "openid profile email offline_access"
USER_AGENT = "cpro-bench/1"
SCENARIOS = (
    "discovery",
    "jwks",
    "client_credentials",
    "login",
    "sso",
    "refresh",
    "userinfo",
    "introspection",
)
# idp.settings' defaults: the floor must hash like the server does.
ARGON2 = {"memory_cost": 19456, "time_cost": 2, "parallelism": 1}
HASH_CONCURRENCY = 1
GENERATOR_CPU, SERVER_CPU = 0, 1
TICK = os.sysconf("SC_CLK_TCK")
IMPORT_ACCOUNTS = 5000
# Whose versions the report records.
PACKAGES = "cpro-connect uvicorn starlette sqlalchemy uvloop httptools argon2-cffi psycopg"

# The floor server: what uvicorn and Starlette cost with nothing of ours behind them, served
# the way `idp serve` serves (uvloop, httptools, one worker, no access log).
FLOOR_SERVER = """
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def ok(request):
    return Response(b'{"ok":true}', media_type="application/json")

uvicorn.run(Starlette(routes=[Route("/", ok)]), host="127.0.0.1", port=int(sys.argv[1]),
            loop="uvloop", http="httptools", workers=1, access_log=False,
            log_level="warning", proxy_headers=False, server_header=False)
"""

# The argon2id floor: verifications of one hash for a few seconds, with as many threads as
# the server hashes at once (argon2-cffi releases the GIL while it hashes).
ARGON2_FLOOR = """
import json, sys, threading, time
import argon2
params, threads = json.loads(sys.argv[1]), int(sys.argv[2])
seconds, password = float(sys.argv[3]), sys.argv[4]
hasher = argon2.PasswordHasher(hash_len=32, salt_len=16, type=argon2.Type.ID, **params)
stored = hasher.hash(password)
hasher.verify(stored, password)
counts = [0] * threads
def loop(i, deadline):
    while time.perf_counter() < deadline:
        hasher.verify(stored, password)
        counts[i] += 1
cpu, start = time.process_time(), time.perf_counter()
workers = [threading.Thread(target=loop, args=(i, start + seconds)) for i in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
print(json.dumps({"verifications": sum(counts), "seconds": time.perf_counter() - start,
                  "cpu_seconds": time.process_time() - cpu}))
"""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, exit status 2: what a caller (make, a script) needs.
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = Parser(
        prog="tests/bench.py",
        description="Load benchmark of one `idp serve` process (see the module docstring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--database",
        help="postgresql+psycopg://… (WIPED, then migrated); default: SQLite in a temp dir",
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--concurrency", default="8,32", help="comma-separated client counts")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--accounts", type=int, default=40, help="accounts to provision")
    parser.add_argument(
        "--workers", type=int, default=1, help="`idp serve --workers`, all on CPU 1"
    )
    parser.add_argument("--json", default="bench-results/bench.json", help="where to write")
    parser.add_argument(
        "--import",
        dest="bulk_import",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"time a CLI import of {IMPORT_ACCOUNTS:,} accounts at the end",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="IDP_NAME=VALUE",
        help="a setting for the server (repeatable), e.g. IDP_DATABASE_THREADS=4",
    )
    args = parser.parse_args(argv)

    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown or not names:
        parser.error(
            f"--scenarios: unknown {unknown or 'empty'}; choose from {','.join(SCENARIOS)}"
        )
    args.scenarios = list(dict.fromkeys(names))
    try:
        args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--concurrency: expected numbers like 8,32, got {args.concurrency!r}")
    if not args.concurrency or min(args.concurrency) < 1 or max(args.concurrency) > 1000:
        parser.error("--concurrency: each level must be from 1 to 1000")
    if not 0 < args.duration <= 3600 or not 0 <= args.warmup <= 600:
        parser.error("--duration must be in (0, 3600] and --warmup in [0, 600] seconds")
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be from 1 to 64")
    if args.accounts < 1:
        parser.error("--accounts must be at least 1")
    if set(args.scenarios) & BROWSER_SCENARIOS and args.accounts < max(args.concurrency):
        # One account per simulated browser: parallel sign-ins on one account are throttled.
        parser.error(
            f"--accounts ({args.accounts}) must be at least the highest concurrency "
            f"({max(args.concurrency)}): one account per simulated browser"
        )
    extra = {}
    for setting in args.settings:
        name, equals, value = setting.partition("=")
        if not equals or not name.startswith("IDP_"):
            parser.error(f"--set: expected IDP_NAME=VALUE, got {setting!r}")
        extra[name] = value
    args.settings = extra
    if args.database and not args.database.startswith(("postgresql+psycopg://", "postgresql://")):
        parser.error("--database must be a postgresql+psycopg:// URL (SQLite is the default)")
    # Which backends are ours (libpq's default database is the user's name).
    url = urlsplit(args.database or "")
    args.pg_database = (
        (url.path.lstrip("/") or url.username or "postgres") if args.database else None
    )
    return args


# -- a raw HTTP/1.1 client ---------------------------------------------------------------


class HttpError(Exception):
    """The connection failed, or the answer was not HTTP/1.1 as this client reads it."""


class OpError(Exception):
    """An answer other than the one the scenario expects."""


class _Closed(Exception):
    """The server closed the connection before sending a single byte of the answer."""


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]]  # names in lower case
    body: bytes

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return value
        return ""


def request_bytes(
    port: int, method: str, target: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {HOST}:{port}", f"User-Agent: {USER_AGENT}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Connection:
    """One keep-alive connection, reopened when the server has closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.requests = 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, request: bytes) -> Response:
        for _ in range(2):
            reused = self.writer is not None
            if not reused:
                try:
                    self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
                except OSError as exc:
                    raise HttpError(f"cannot connect to {HOST}:{self.port}: {exc}") from None
            assert self.writer is not None and self.reader is not None
            try:
                self.writer.write(request)
                response = await self._read(self.reader)
            except (_Closed, ConnectionError) as exc:
                self.close()
                # A kept-alive connection the server closed meanwhile (its keep-alive timeout,
                # between scenarios): the request never reached it, so send it on a new one.
                if reused:
                    continue
                raise HttpError(f"connection closed before an answer: {exc!r}") from None
            except (HttpError, OSError, asyncio.LimitOverrunError, ValueError) as exc:
                self.close()
                raise HttpError(f"bad answer: {exc!r}") from None
            self.requests += 1
            return response
        raise HttpError("the server closed two connections in a row before answering")

    async def _read(self, reader: asyncio.StreamReader) -> Response:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _Closed from None
                raise HttpError("connection closed in the middle of the headers") from None
            lines = head.decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
                raise HttpError(f"not an HTTP/1.x status line: {lines[0]!r}")
            status = int(rest[:3])
            if not 100 <= status < 200:  # an interim answer: the real one follows
                break
        headers: list[tuple[str, str]] = []
        length, chunked, close = -1, False, version == "HTTP/1.0"
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            headers.append((name, value))
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = value.lower().endswith("chunked")
            elif name == "connection":
                close = close or "close" in value.lower()
        try:
            if chunked:
                body = await self._chunked(reader)
            elif length >= 0:
                body = await reader.readexactly(length)
            elif status in (204, 304):
                body = b""
            else:  # neither length nor chunks: the body ends with the connection
                body, close = await reader.read(), True
        except asyncio.IncompleteReadError:
            raise HttpError("connection closed in the middle of the body") from None
        if close:
            self.close()
        return Response(status, headers, body)

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)


class Browser:
    """A simulated browser (or API client) on a connection: a minimal cookie jar (every
    cookie of the provider is for its one host and path /) and the last request, for errors."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.cookies: dict[str, str] = {}
        self.last = ""

    async def get(self, target: str) -> Response:
        return await self._send("GET", target, [], b"")

    async def post(self, target: str, form: dict[str, str], auth: str = "") -> Response:
        headers = [("Content-Type", "application/x-www-form-urlencoded")]
        if auth:
            headers.append(("Authorization", auth))
        return await self._send("POST", target, headers, urlencode(form).encode())

    async def _send(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> Response:
        if self.cookies:
            headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items())))
        self.last = f"{method} {target}"
        response = await self.conn.send(
            request_bytes(self.conn.port, method, target, headers, body)
        )
        for name, value in response.headers:
            if name == "set-cookie":
                self._store(value)
        return response

    def _store(self, set_cookie: str) -> None:
        pair, *attributes = set_cookie.split(";")
        name, _, value = pair.strip().partition("=")
        expired = False
        for attribute in attributes:
            key, _, setting = attribute.strip().partition("=")
            key = key.lower()
            try:
                if key == "max-age":  # wins over Expires (RFC 6265 §5.3)
                    expired = int(setting) <= 0
                    break
                if key == "expires":
                    expired = parsedate_to_datetime(setting) <= datetime.now(UTC)
            except (TypeError, ValueError):
                pass
        if expired:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value


# -- the scenarios -------------------------------------------------------------------------


@dataclass
class Target:
    port: int
    client_id: str = ""
    client_secret: str = ""

    def path(self, suffix: str) -> str:
        return f"/{SCHOOL}{suffix}"

    @property
    def basic(self) -> str:
        pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
        return "Basic " + base64.b64encode(pair.encode()).decode()


@dataclass
class Sim:
    """One simulated client: its account, connection, signed-in browser and tokens."""

    login: str
    conn: Connection
    browser: Browser  # the cookie jar of a browser that signed in once (sso)
    api: Browser  # the same connection without cookies (a module's back end)
    fixed: bytes = b""  # the one request of the cheap scenarios, built once
    access_token: str = ""
    refresh_token: str = ""


def snippet(body: bytes) -> str:
    return " ".join(body[:300].decode("utf-8", "replace").split())


def expect(browser: Browser, response: Response, status: int) -> Response:
    if response.status != status:
        raise OpError(
            f"{browser.last} -> {response.status} (expected {status}): {snippet(response.body)}"
        )
    return response


def json_of(browser: Browser, response: Response) -> dict[str, Any]:
    try:
        value = json.loads(response.body)
    except ValueError:
        raise OpError(f"{browser.last}: not JSON: {snippet(response.body)}") from None
    if not isinstance(value, dict):
        raise OpError(f"{browser.last}: not a JSON object: {snippet(response.body)}")
    return value


def same_origin(t: Target, browser: Browser, response: Response) -> str:
    location = response.header("location")
    parts = urlsplit(location)
    if not location or (parts.netloc and parts.netloc != f"{HOST}:{t.port}"):
        raise OpError(f"{browser.last}: redirect elsewhere: {location!r}")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def code_from(browser: Browser, response: Response, state: str) -> str:
    location = response.header("location")
    if not location.startswith(REDIRECT + "?"):
        raise OpError(f"{browser.last}: redirect to {location!r}, not to the client")
    query = parse_qs(urlsplit(location).query)
    if query.get("state") != [state] or "code" not in query:
        raise OpError(f"{browser.last}: no code or wrong state in {location!r}")
    return query["code"][0]


def form_value(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    if found is None:
        raise OpError(f'no name="{name}" field in the login page')
    return html.unescape(found.group(1))


def authorize_target(t: Target, state: str, challenge: str) -> str:
    query = {
        "response_type": "code",
        "client_id": t.client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": state,
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return t.path("/oidc/authorize?") + urlencode(query, quote_via=quote)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def exchange(t: Target, browser: Browser, code: str, verifier: str) -> dict[str, Any]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    response = await browser.post(t.path("/oidc/token"), form, auth=t.basic)
    return json_of(browser, expect(browser, response, 200))


async def sign_in(t: Target, browser: Browser, login: str) -> dict[str, Any]:
    """The whole password sign-in of a browser, 5 requests; returns the token answer."""
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(12)
    r = expect(browser, await browser.get(authorize_target(t, state, challenge)), 303)
    r = expect(browser, await browser.get(same_origin(t, browser, r)), 200)
    page = r.body.decode("utf-8", "replace")
    form = {
        "login": login,
        "password": PASSWORD,
        "csrf_token": form_value(page, "csrf_token"),
        "next": form_value(page, "next"),
    }
    r = expect(browser, await browser.post(t.path("/login"), form), 303)
    r = expect(browser, await browser.get(same_origin(t, browser, r)), 302)
    return await exchange(t, browser, code_from(browser, r, state), verifier)


async def signed_in(t: Target, sim: Sim) -> None:
    """Setup, not measured: the browser signs in once and keeps its cookies and tokens."""
    tokens = await sign_in(t, sim.browser, sim.login)
    sim.access_token, sim.refresh_token = tokens["access_token"], tokens.get("refresh_token", "")
    if not sim.refresh_token:
        raise OpError(f"no refresh token for scope {SCOPE!r}")


async def send_fixed(t: Target, sim: Sim) -> None:
    response = await sim.conn.send(sim.fixed)
    if response.status != 200:
        line = sim.fixed.split(b"\r\n", 1)[0].decode()
        raise OpError(f"{line} -> {response.status} (expected 200): {snippet(response.body)}")


def fixed(build: Callable[[Target, Sim], bytes]) -> Callable[[Target, Sim], Awaitable[None]]:
    async def setup(t: Target, sim: Sim) -> None:
        sim.fixed = build(t, sim)

    return setup


async def setup_with_token(t: Target, sim: Sim, build: Callable[[Target, Sim], bytes]) -> None:
    await signed_in(t, sim)
    sim.fixed = build(t, sim)


def userinfo_request(t: Target, sim: Sim) -> bytes:
    auth = [("Authorization", f"Bearer {sim.access_token}")]
    return request_bytes(t.port, "GET", t.path("/oidc/userinfo"), auth)


def introspection_request(t: Target, sim: Sim) -> bytes:
    headers = [("Authorization", t.basic), ("Content-Type", "application/x-www-form-urlencoded")]
    body = urlencode({"token": sim.access_token}).encode()
    return request_bytes(t.port, "POST", t.path("/oidc/introspect"), headers, body)


def client_credentials_request(t: Target, sim: Sim) -> bytes:
    headers = [("Authorization", t.basic), ("Content-Type", "application/x-www-form-urlencoded")]
    body = b"grant_type=client_credentials"
    return request_bytes(t.port, "POST", t.path("/oidc/token"), headers, body)


async def login_op(t: Target, sim: Sim) -> None:
    # A fresh cookie jar each time: a new browser, so the whole sign-in happens.
    await sign_in(t, Browser(sim.conn), sim.login)


async def sso_op(t: Target, sim: Sim) -> None:
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(12)
    b = sim.browser
    r = expect(b, await b.get(authorize_target(t, state, challenge)), 302)
    await exchange(t, b, code_from(b, r, state), verifier)


async def refresh_op(t: Target, sim: Sim) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": sim.refresh_token}
    r = await sim.api.post(t.path("/oidc/token"), form, auth=t.basic)
    tokens = json_of(sim.api, expect(sim.api, r, 200))
    # Rotation: the old refresh token is spent, always send the newest one.
    sim.refresh_token = tokens.get("refresh_token") or sim.refresh_token


async def introspection_op(t: Target, sim: Sim) -> None:
    response = await sim.conn.send(sim.fixed)
    if response.status != 200 or b'"active":true' not in response.body.replace(b" ", b""):
        raise OpError(f"POST introspect -> {response.status}: {snippet(response.body)}")


@dataclass(frozen=True)
class Scenario:
    name: str
    requests: int  # per op
    op: Callable[[Target, Sim], Awaitable[None]]
    setup: Callable[[Target, Sim], Awaitable[None]] | None = None


def _discovery(t: Target, sim: Sim) -> bytes:
    return request_bytes(t.port, "GET", t.path("/.well-known/openid-configuration"))


def _jwks(t: Target, sim: Sim) -> bytes:
    return request_bytes(t.port, "GET", t.path("/oidc/jwks"))


SCENARIO_TABLE = {
    "discovery": Scenario("discovery", 1, send_fixed, fixed(_discovery)),
    "jwks": Scenario("jwks", 1, send_fixed, fixed(_jwks)),
    "client_credentials": Scenario(
        "client_credentials", 1, send_fixed, fixed(client_credentials_request)
    ),
    "login": Scenario("login", 5, login_op),
    "sso": Scenario("sso", 2, sso_op, signed_in),
    "refresh": Scenario("refresh", 1, refresh_op, signed_in),
    "userinfo": Scenario(
        "userinfo", 1, send_fixed, lambda t, s: setup_with_token(t, s, userinfo_request)
    ),
    "introspection": Scenario(
        "introspection",
        1,
        introspection_op,
        lambda t, s: setup_with_token(t, s, introspection_request),
    ),
}
FLOOR = Scenario(
    "starlette floor", 1, send_fixed, fixed(lambda t, s: request_bytes(t.port, "GET", "/"))
)
BROWSER_SCENARIOS = {"login", "sso", "refresh", "userinfo", "introspection"}


# -- CPU accounting from /proc -------------------------------------------------------------


def proc_table() -> dict[int, tuple[int, str, int, int]]:
    """pid → (ppid, comm, its own clock ticks: utime + stime, those of its reaped children:
    cutime + cstime)."""
    table: dict[int, tuple[int, str, int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                raw = handle.read()
        except OSError:  # gone meanwhile
            continue
        # comm may hold spaces and parentheses: the fields start after the last ")".
        close = raw.rindex(b")")
        comm = raw[raw.index(b"(") + 1 : close].decode("utf-8", "replace")
        fields = raw[close + 2 :].split()
        # fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
        utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
        table[int(name)] = (int(fields[1]), comm, utime + stime, cutime + cstime)
    return table


# What a PostgreSQL process's title says of its database: "postgres: [cluster: ]user database
# host(port) activity" for a backend, "… autovacuum worker database" for that worker.
PG_DATABASE = re.compile(
    r"postgres: (?:[^:]*: )?(?:autovacuum worker (\S+)|\S+ (\S+) (?:\S+\(\d+\)|\[local\]))"
)


def postgres_ticks(
    table: dict[int, tuple[int, str, int, int]], database: str
) -> tuple[dict[int, int], int]:
    """(pid → own clock ticks of PostgreSQL's live processes, less those working for other
    databases (the test suite's, say); the clock ticks of the connections that ended, reaped
    by the postmaster). A connection that ended may have been another database's: there is
    no telling once it is gone."""
    found: dict[int, int] = {}
    ended = 0
    for pid, (ppid, comm, own, reaped) in table.items():
        if not comm.startswith("postgres"):
            continue
        if not table.get(ppid, (0, ""))[1].startswith("postgres"):  # the postmaster
            ended += reaped
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                title = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        match = PG_DATABASE.match(title)
        if match is None or database in match.groups():
            found[pid] = own
    return found, ended


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = values
    return (user + nice + system + irq + softirq) / TICK


@dataclass
class CpuSample:
    at: float
    server: float  # CPU seconds so far
    postgres: dict[int, int]  # pid → clock ticks so far
    postgres_ended: int  # clock ticks of the connections that ended so far
    generator: float
    machine: float


def cpu_sample(server_pid: int, pg_database: str | None) -> CpuSample:
    table = proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    tree: set[int] = set()
    todo = [server_pid]
    while todo:
        pid = todo.pop()
        if pid in table and pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, ()))
    # The server's reaped children count: a worker that uvicorn replaced worked for it.
    server = sum(table[pid][2] + table[pid][3] for pid in tree)
    postgres, ended = postgres_ticks(table, pg_database) if pg_database else ({}, 0)
    return CpuSample(
        at=time.perf_counter(),
        server=server / TICK,
        postgres=postgres,
        postgres_ended=ended,
        generator=time.process_time(),
        machine=machine_busy(),
    )


# -- one cell: a scenario at one concurrency -----------------------------------------------


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest rank, in ms."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1] * 1000


async def run_cell(
    scenario: Scenario, t: Target, sims: list[Sim], server_pid: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Closed loop: each simulated client starts its next op when the last one ends."""
    window = [math.inf, math.inf]
    latencies: list[float] = []
    errors: list[str] = []
    stopping = False

    async def client(sim: Sim) -> None:
        while not stopping:
            start = time.perf_counter()
            try:
                await scenario.op(t, sim)
            except Exception as exc:  # counted, and the loop goes on
                errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.01)  # no busy loop against a server that is down
                continue
            end = time.perf_counter()
            if window[0] <= end <= window[1]:
                latencies.append(end - start)

    tasks = [asyncio.create_task(client(sim)) for sim in sims]
    await asyncio.sleep(args.warmup)
    requests_before = sum(sim.conn.requests for sim in sims)
    before = cpu_sample(server_pid, args.pg_database)
    window[0] = before.at
    await asyncio.sleep(args.duration)
    after = cpu_sample(server_pid, args.pg_database)
    window[1] = after.at
    requests = sum(sim.conn.requests for sim in sims) - requests_before
    stopping = True
    # Let the ops in flight end (a sign-in may be waiting for a hashing slot).
    _, pending = await asyncio.wait(tasks, timeout=60)
    for task in pending:
        task.cancel()
        errors.append("an op still running 60 s after the window")

    seconds = after.at - before.at
    ops = len(latencies)
    ordered = sorted(latencies)
    server = after.server - before.server
    # Per live process: one that ended during the window must not take its past time away
    # (the postmaster's reaped time has it), one that started counts from zero. The server
    # opening and closing connections (its pool overflowing) shows as pg_ended.
    pg_live = sum(ticks - before.postgres.get(pid, 0) for pid, ticks in after.postgres.items())
    pg_ended = (after.postgres_ended - before.postgres_ended) / TICK
    postgres = pg_live / TICK + pg_ended
    generator = after.generator - before.generator
    cell: dict[str, Any] = {
        "scenario": scenario.name,
        "concurrency": len(sims),
        "requests_per_op": scenario.requests,
        "seconds": round(seconds, 3),
        "ops": ops,
        "ops_per_s": ops / seconds,
        "requests_per_s": requests / seconds,
        "latency_ms": {
            "p50": percentile(ordered, 0.50),
            "p95": percentile(ordered, 0.95),
            "p99": percentile(ordered, 0.99),
            "max": percentile(ordered, 1.0),
        },
        # Every error of the cell, warm-up and drain included: none is expected.
        "errors": len(errors),
        "error_samples": list(dict.fromkeys(errors))[:5],
        "server_cpu_ms_per_op": server * 1000 / ops if ops else None,
        "server_cores": server / seconds,
        "generator_cores": generator / seconds,
        # Whatever else ran on the machine meanwhile (the bench is only as quiet as it is);
        # at least 0: each reading is rounded to a clock tick.
        "other_cores": max(0.0, after.machine - before.machine - server - postgres - generator)
        / seconds,
    }
    if args.database:
        cell["postgres_cpu_ms_per_op"] = postgres * 1000 / ops if ops else None
        cell["postgres_cores"] = postgres / seconds
        cell["postgres_ended_connections_cores"] = pg_ended / seconds
    return cell


# -- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise SystemExit(f"{url}: the server exited ({proc.returncode}):\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback http)
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"no answer from {url} after {seconds:.0f} s") from None
            time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL if still there after 10 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wipe_postgres(url: str) -> None:
    try:
        import psycopg
    except ImportError:
        raise SystemExit("--database needs psycopg: pip install -e '.[postgres]'") from None
    try:
        with psycopg.connect(url.replace("+psycopg", "", 1), autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    except psycopg.Error as exc:
        # A database that is not there or not reachable: a bad --database, exit status 2.
        print(
            f"tests/bench.py: error: --database {redact(url)}: {' '.join(str(exc).split())}",
            file=sys.stderr,
        )
        sys.exit(2)


def redact(url: str) -> str:
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES.split():
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release()}


# -- output --------------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(cells: list[dict[str, Any]], postgres: bool, header: bool = True) -> str:
    """One line per cell. cores: the server's; gen: the load generator's; other: everything
    else on the machine; floor: ops/s as a fraction of the bare Starlette endpoint's; pg:
    PostgreSQL's, of which `ended` in connections that closed during the window."""
    head = (
        f"{'scenario':<19}{'c':>4}{'ops/s':>9}{'req/s':>9}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'p99 ms':>8}{'errors':>7}{'CPU ms/op':>10}{'cores':>6}{'gen':>5}{'other':>6}"
        f"{'floor':>7}"
    )
    if postgres:
        head += f"{'pg ms/op':>9}{'pg cores':>9}{'ended':>6}"
    lines = [head, "-" * len(head)] if header else []
    for c in cells:
        lat = c["latency_ms"]
        line = (
            f"{c['scenario']:<19}{c['concurrency']:>4}{c['ops_per_s']:>9.1f}"
            f"{c['requests_per_s']:>9.1f}{fmt(lat['p50'], '.1f'):>8}{fmt(lat['p95'], '.1f'):>8}"
            f"{fmt(lat['p99'], '.1f'):>8}{c['errors']:>7}"
            f"{fmt(c['server_cpu_ms_per_op'], '.2f'):>10}{c['server_cores']:>6.2f}"
            f"{c['generator_cores']:>5.2f}{c['other_cores']:>6.2f}"
            f"{fmt(c.get('of_floor'), '.3f'):>7}"
        )
        if postgres:
            line += f"{fmt(c.get('postgres_cpu_ms_per_op'), '.2f'):>9}"
            line += f"{c.get('postgres_cores', 0):>9.2f}"
            line += f"{c.get('postgres_ended_connections_cores', 0):>6.2f}"
        if "of_argon2" in c:
            line += f"  {c['of_argon2']:.0%} of the argon2id floor"
        lines.append(line)
    return "\n".join(lines)


# -- the run -------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, runner: asyncio.Runner) -> None:
        self.args, self.runner = args, runner
        available = os.sched_getaffinity(0)
        self.pinned = {GENERATOR_CPU, SERVER_CPU} <= available
        self.pin = ["taskset", "-c", str(SERVER_CPU)] if self.pinned else []
        if not self.pinned:
            print(f"note: only CPUs {sorted(available)} here, fewer than 2: nothing is pinned")
        elif not shutil.which("taskset"):
            raise SystemExit("taskset (util-linux) is needed to pin the servers to CPU 1")
        self.workdir = Path(tempfile.mkdtemp(prefix="idp-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.port = free_port()
        self.database = args.database or f"sqlite:///{self.workdir / 'idp.db'}"
        self.server_env = {
            "IDP_DATABASE_URL": self.database,
            "IDP_SECRET_KEY": secrets.token_urlsafe(48),
            "IDP_BASE_URL": f"http://{HOST}:{self.port}",
            "IDP_MAIL_BACKEND": "file",
            "IDP_MAIL_DIR": str(self.workdir / "mail"),
            "IDP_LOG_LEVEL": "WARNING",
            # One core for the server: as many hashes at once as it has cores.
            "IDP_HASH_CONCURRENCY": str(HASH_CONCURRENCY),
            **args.settings,
        }
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        self.env.update(self.server_env)
        self.report: dict[str, Any] = {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "versions": versions(),
            "settings": {
                "database": "postgresql" if args.database else "sqlite",
                "scenarios": args.scenarios,
                "concurrency": args.concurrency,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "accounts": args.accounts,
                "workers": args.workers,
                "pinned": {"server": SERVER_CPU, "generator": GENERATOR_CPU}
                if self.pinned
                else None,
                "argon2": ARGON2,
                "hash_concurrency": HASH_CONCURRENCY,
                "server_env": self.server_env
                | {"IDP_DATABASE_URL": redact(self.database), "IDP_SECRET_KEY": "***"},
            },
            "commands": {"bench": shlex.join([sys.executable, *sys.argv])},
            "floors": {},
            "cells": [],
            "failed_scenarios": {},
        }

    def close(self) -> None:
        for proc in self.procs:
            stop(proc)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def idp(self, *args: str, stdin: str | None = None) -> str:
        """The `idp` command next to this Python, with the server's environment."""
        result = subprocess.run(
            [IDP, *args],
            cwd=self.workdir,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"idp {shlex.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def start(self, command: list[str], log_name: str, ready: str) -> subprocess.Popen[bytes]:
        log = self.workdir / log_name
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command, cwd=self.workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        wait_ready(proc, ready, log)
        return proc

    # -- steps ---------------------------------------------------------------------------

    def provision(self) -> tuple[Target, list[str]]:
        started = time.perf_counter()
        if self.args.database:
            wipe_postgres(self.args.database)
        self.idp("db", "upgrade")
        school = [
            "--name",
            "Lycée du banc d'essai",
            "--uai",
            "0750655E",
            "--email",
            "b@example.org",
        ]
        self.idp("establishment", "create", SCHOOL, *school)
        module = ["--name", "Banc", "--redirect-uri", REDIRECT, "--json"]
        client = json.loads(self.idp("client", "add", SCHOOL, *module))

        def account(i: int) -> str:
            person = [
                "--first-name",
                f"Banc{i}",
                "--last-name",
                "Essai",
                "--birth-date",
                "2009-01-01",
            ]
            login = self.idp("user", "add", SCHOOL, *person, "--role", "student").split()[-1]
            self.idp("user", "set-password", SCHOOL, login, "--password-stdin", stdin=PASSWORD)
            return login

        # Both CPUs (nothing is pinned yet): each CLI run is mostly Python start-up and a hash.
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
            logins = list(pool.map(account, range(1, self.args.accounts + 1)))
        self.report["provisioning_s"] = round(time.perf_counter() - started, 1)
        self.report["commands"]["provisioning"] = [
            "idp db upgrade",
            f"idp establishment create {SCHOOL} --name … --uai 0750655E --email …",
            f"idp client add {SCHOOL} --name Banc --redirect-uri {REDIRECT} --json",
            f"{self.args.accounts} × idp user add {SCHOOL} --first-name BancN --last-name Essai "
            f"--birth-date 2009-01-01 --role student; "
            f"idp user set-password {SCHOOL} LOGIN --password-stdin",
        ]
        print(
            f"provisioned 1 client and {len(logins)} accounts in {self.report['provisioning_s']} s"
        )
        return Target(self.port, client["client_id"], client["client_secret"]), logins

    def argon2_floor(self) -> float:
        command = [
            *self.pin,
            sys.executable,
            "-c",
            ARGON2_FLOOR,
            json.dumps(ARGON2),
            str(HASH_CONCURRENCY),
            "4",
            PASSWORD,
        ]
        busy = machine_busy()
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        busy = machine_busy() - busy
        measured = json.loads(result.stdout)
        count, seconds, cpu = (
            measured["verifications"],
            measured["seconds"],
            measured["cpu_seconds"],
        )
        floor = measured | {
            "threads": HASH_CONCURRENCY,
            "params": ARGON2,
            "per_s": count / seconds,
            "cpu_ms_per_hash": cpu * 1000 / count,
            # Less than HASH_CONCURRENCY cores: something else ran on CPU 1 meanwhile.
            "cores": cpu / seconds,
            "other_cores": max(0.0, busy - cpu) / seconds,
        }
        self.report["floors"]["argon2id"] = floor
        self.report["commands"]["argon2_floor"] = shlex.join(placeholder(command))
        print(argon2_line(floor))
        return float(floor["per_s"])

    def starlette_floor(self) -> dict[int, float]:
        port = free_port()
        command = [*self.pin, sys.executable, "-c", FLOOR_SERVER, str(port)]
        proc = self.start(command, "floor.log", f"http://{HOST}:{port}/")
        self.report["commands"]["starlette_floor"] = shlex.join(placeholder(command))
        cells = []
        for c in self.args.concurrency:
            sims = [new_sim(port, "") for _ in range(c)]
            self.runner.run(set_up(FLOOR, Target(port), sims))
            cells.append(self.runner.run(run_cell(FLOOR, Target(port), sims, proc.pid, self.args)))
            close_all(sims)
            print(table(cells[-1:], False, header=len(cells) == 1))
        stop(proc)
        self.report["floors"]["starlette"] = cells
        return {cell["concurrency"]: cell["ops_per_s"] for cell in cells}

    def provider(
        self, target: Target, logins: list[str], argon2: float, floor: dict[int, float]
    ) -> None:
        workers = str(self.args.workers)
        command = [*self.pin, IDP, "serve", "--port", str(self.port), "--workers", workers]
        server = self.start(command, "serve.log", f"http://{HOST}:{self.port}/healthz")
        self.report["commands"]["server"] = shlex.join(command)
        print(f"\nidp serve, {self.report['settings']['database']}, {self.args.workers} worker(s)")
        failed = self.report["failed_scenarios"]
        header = True
        for name in self.args.scenarios:
            scenario = SCENARIO_TABLE[name]
            sims = [
                new_sim(self.port, logins[i % len(logins)])
                for i in range(max(self.args.concurrency))
            ]
            try:
                self.runner.run(set_up(scenario, target, sims))
                # Once before measuring: a scenario that does not work is reported, not timed.
                self.runner.run(scenario.op(target, sims[0]))
            except Exception as exc:
                failed[name] = f"{type(exc).__name__}: {exc}"
                print(f"{name}: NOT MEASURED, it failed once before measuring: {failed[name]}")
                close_all(sims)
                continue
            for c in self.args.concurrency:
                cell = self.runner.run(run_cell(scenario, target, sims[:c], server.pid, self.args))
                if c in floor:
                    cell["of_floor"] = cell["ops_per_s"] / floor[c]
                if name == "login":
                    cell["of_argon2"] = cell["ops_per_s"] / argon2
                self.report["cells"].append(cell)
                print(table([cell], bool(self.args.database), header=header))
                header = False
            close_all(sims)
            if server.poll() is not None:
                raise SystemExit(f"idp serve exited ({server.returncode}), see its log")
        stop(server)

    def bulk_import(self) -> None:
        lines = ["Nom;Prénom;Date de naissance;Classe"]
        lines += [
            f"Nom{i % 50};Prénom;{(date(2007, 1, 1) + timedelta(days=i)):%d/%m/%Y};CAP{i % 20}"
            for i in range(IMPORT_ACCOUNTS)
        ]
        csv_path = self.workdir / "import.csv"
        csv_path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
        start = time.perf_counter()
        output = self.idp("user", "import", SCHOOL, str(csv_path))
        seconds = time.perf_counter() - start
        self.report["import"] = {
            "accounts": IMPORT_ACCOUNTS,
            "seconds": seconds,
            "output": output.strip(),
        }
        self.report["commands"]["import"] = f"idp user import {SCHOOL} import.csv"
        print(f"import of {IMPORT_ACCOUNTS:,} accounts (CLI): {seconds:.1f} s")

    def run(self) -> None:
        target, logins = self.provision()
        everywhere = os.sched_getaffinity(0)
        if self.pinned:
            os.sched_setaffinity(0, {GENERATOR_CPU})
        argon2 = self.argon2_floor()
        print("\nbare Starlette endpoint (the floor of any request)")
        floor = self.starlette_floor()
        self.provider(target, logins, argon2, floor)
        os.sched_setaffinity(0, everywhere)  # the import is not a load test
        if self.args.bulk_import:
            self.bulk_import()

    def summary(self) -> str:
        report, settings = self.report, self.report["settings"]
        m = report["machine"]
        lines = [
            "",
            f"machine: {m['cpus']} CPUs, {m['cpu_model']}; "
            + ("server on CPU 1, generator on CPU 0" if self.pinned else "nothing pinned"),
        ]
        if "argon2id" in report["floors"]:
            lines.append(argon2_line(report["floors"]["argon2id"]))
        if "starlette" in report["floors"]:
            lines += ["", "bare Starlette endpoint:", table(report["floors"]["starlette"], False)]
        if report["cells"]:
            lines += [
                "",
                f"idp serve ({settings['database']}, {settings['workers']} worker):",
                table(report["cells"], bool(self.args.database)),
            ]
        for name, why in report["failed_scenarios"].items():
            lines.append(f"{name}: NOT MEASURED: {why}")
        for cell in report["cells"]:
            if cell["errors"]:
                lines.append(f"{cell['scenario']} c={cell['concurrency']}: {cell['errors']} errors")
                lines += [f"    {sample}" for sample in cell["error_samples"]]
        if "import" in report:
            lines.append(
                f"import of {IMPORT_ACCOUNTS:,} accounts: {report['import']['seconds']:.1f} s"
            )
        floor = report["floors"].get("argon2id")
        if floor and floor["cores"] < 0.9 * HASH_CONCURRENCY:
            lines.append(
                f"note: the argon2id floor ran on {floor['cores']:.2f} core(s), not "
                f"{HASH_CONCURRENCY}: CPU 1 was shared, the login's percentage of it is too high"
            )
        cells = report["cells"] + report["floors"].get("starlette", [])
        busiest = max((cell["other_cores"] for cell in cells), default=0.0)
        if busiest > 0.25:
            lines.append(
                f"note: other processes used up to {busiest:.2f} cores during the cells "
                "(the 'other' column): the machine was not quiet, the numbers are noisy"
            )
        return "\n".join(lines)


def argon2_line(floor: dict[str, Any]) -> str:
    return (
        f"argon2id floor: {floor['per_s']:.1f} verifications/s, {floor['cpu_ms_per_hash']:.1f} ms "
        f"CPU each ({floor['threads']} thread, {floor['cores']:.2f} cores used, "
        f"other processes {floor['other_cores']:.2f} cores)"
    )


def placeholder(command: list[str]) -> list[str]:
    """The command line for the report, with the `python -c` program named, not inlined."""
    names = {FLOOR_SERVER: "<FLOOR_SERVER>", ARGON2_FLOOR: "<ARGON2_FLOOR>"}
    return [names.get(part, part) for part in command]


def new_sim(port: int, login: str) -> Sim:
    conn = Connection(port)
    return Sim(login=login, conn=conn, browser=Browser(conn), api=Browser(conn))


def close_all(sims: list[Sim]) -> None:
    for sim in sims:
        sim.conn.close()


async def set_up(scenario: Scenario, t: Target, sims: list[Sim]) -> None:
    if scenario.setup is not None:
        await asyncio.gather(*(scenario.setup(t, sim) for sim in sims))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        bench = Bench(args, runner)
        bench.report["settings"]["generator_loop"] = "uvloop" if loop_factory else "asyncio"
        try:
            bench.run()
        finally:
            bench.close()
    print(bench.summary())
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(bench.report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nresults in {out}")
    return 1 if bench.report["failed_scenarios"] else 0


if __name__ == "__main__":
    sys.exit(main())
