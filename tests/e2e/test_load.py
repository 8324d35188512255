"""Load, for correctness: a few hundred pupils, many accounts behind each of a handful of
addresses, run whole sign-in flows against a real `idp serve` process for most of a minute;
then every row they left is counted (outside review, "Load, for correctness").

Each flow is a new browser: authorize → login page → (now and then a wrong password: another
pupil's) → the right password (a tenth of the pupils start on their birth date and change it
first, as the help page requires) → the module's callback with a code → token exchange
(PKCE, client_secret_basic) → userinfo → refresh (rotation) → userinfo with the new token →
the old refresh token again (refused, and its family revoked) → the new one (refused) and its
access token (refused).

Asserted: no 5xx and no error line in the server's log; every flow ends as the protocol
says, every right password is let in (never « Trop de tentatives »); and afterwards, in the
database, exactly the rows the flows made: one session per sign-in, one code per
authorization (each used once), two token rows per flow (jti and refresh hashes those the
clients received, none twice), every refresh family rotated once and revoked by the reuse,
no pending authorization left, audit events and throttle counters that match what was sent.

A correctness test, not a benchmark: the argon2 parameters are lowered (the hash is not
what is tested here) and nothing is asserted against a time. The figures (flows, requests
per second, p95) are printed for the README; `make bench` measures speed.
Loopback only; bounded: the load stops at its deadline, every request has a timeout, and the
whole run has one.

The second test is a school's worth of pupils (200) behind one address posting the right
password in the same instant: it shows a refusal the load above stays clear of (an expected
failure until the sign-in service changes how it counts attempts in flight).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import json
import math
import os
import random
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from e2e.conftest import IDP, _free_port, start_server, stop_server
from sqlalchemy import func, select

from helpers import UAI_A
from idp.accounts.roles import Role
from idp.db import make_engine
from idp.models import (
    AuditEvent,
    AuthorizationCode,
    PendingAuthorization,
    SsoSession,
    Throttle,
    Token,
    User,
)
from idp.runtime import build_runtime
from idp.security.signing import Signer
from idp.security.tokens import secret_hash
from idp.services import accounts, clients, establishments
from idp.settings import Settings
from oauth_support import pkce

pytestmark = pytest.mark.slow

SCHOOL = "lp-charge"
REDIRECT = "https://sti.cpro.example/callback"
SCOPE = "openid profile offline_access"
PUPILS = int(os.environ.get("IDP_TEST_LOAD_PUPILS", "300"))
# Seconds of load per database: the CI's budget is a minute each, setup included.
SECONDS = float(os.environ.get("IDP_TEST_LOAD_SECONDS", "40"))
# Flows in flight at once: within what one machine serves (two workers), so that a refusal
# is a bug and not an overload.
IN_FLIGHT = 32
WORKERS = 2
# A school's routers (documentation ranges): fifty pupils behind each.
ADDRESSES = ("192.0.2.10", "192.0.2.77", "198.51.100.4", "198.51.100.200", "203.0.113.9")
ADDRESSES += ("203.0.113.150",)
# One pupil in ten starts on the birth date and must choose a password first.
FIRST_LOGIN_EVERY = 10
WRONG_RATE = 0.05
# An address may fail 100 times an hour before it is slowed (IDP_THROTTLE_IP_FAILURES):
# these wrong passwords plus the attempts in flight (each counts until it succeeds) stay
# well under it, so every right password must be let in.
WRONG_PER_ADDRESS = 30
REQUEST_TIMEOUT = 30.0
# After the deadline, flows in flight finish; past this the run fails.
DRAIN_SECONDS = 60.0
ARGON2_KIB, ARGON2_TIME = 1024, 1

BAD_PASSWORD = "Authentification incorrecte : mot de passe non valide."
TOO_MANY = "Trop de tentatives"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NEXT = re.compile(r'name="next" value="([^"]*)"')


@dataclass
class Pupil:
    login: str
    sub: str
    address: str
    password: str  # the personal one (chosen at the first sign-in if `initial` is set)
    initial: str | None  # the birth date, while it is still the password
    rng: random.Random


@dataclass
class Ledger:
    """What the clients saw, to compare with the database afterwards."""

    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    flows: Counter[str] = field(default_factory=Counter)  # login → flows completed
    sign_ins: Counter[str] = field(default_factory=Counter)  # address → sessions opened
    wrong: Counter[str] = field(default_factory=Counter)  # address → wrong passwords
    changed: set[str] = field(default_factory=set)  # logins that chose their password
    session_hashes: list[str] = field(default_factory=list)
    code_hashes: list[str] = field(default_factory=list)
    jtis: list[str] = field(default_factory=list)
    refresh_hashes: list[str] = field(default_factory=list)


class FlowError(Exception):
    """An answer other than the one the protocol and the help page call for."""


@dataclass
class Site:
    base_url: str
    client_id: str
    client_secret: str
    directory: Path
    log: Path
    database_url: str
    pupils: list[Pupil]
    # Opens the session cookie (signed with the instance secret) to the token it carries.
    cookie_signer: Signer

    def path(self, suffix: str) -> str:
        return f"/{SCHOOL}{suffix}"


def _jti(access_token: str) -> str:
    payload = access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["jti"])


def _field(pattern: re.Pattern[str], page: str, what: str) -> str:
    found = pattern.search(page)
    if found is None:
        raise FlowError(f"no {what} in the page: {' '.join(page[:300].split())}")
    return html.unescape(found.group(1))


class Load:
    def __init__(self, site: Site, transport: httpx.AsyncHTTPTransport, deadline: float) -> None:
        self.site = site
        self.transport = transport
        self.deadline = deadline
        self.slots = asyncio.Semaphore(IN_FLIGHT)
        self.ledger = Ledger()
        self.basic = httpx.BasicAuth(site.client_id, site.client_secret)

    async def send(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        expect: int | None,
        **kwargs: object,
    ) -> httpx.Response:
        """One request, timed; any answer but `expect` (when given) ends the flow."""
        start = time.perf_counter()
        try:
            response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise FlowError(
                f"{method} {path.split('?')[0]}: {type(exc).__name__}: {exc!r} "
                f"after {time.perf_counter() - start:.3f} s, {self.deadline - time.monotonic():.1f} s "
                "before the end"
            ) from None
        self.ledger.latencies.append(time.perf_counter() - start)
        self.ledger.requests += 1
        self.ledger.statuses[response.status_code] += 1
        if expect is not None and response.status_code != expect:
            text = " ".join(response.text[:300].split())
            raise FlowError(
                f"{method} {path.split('?')[0]} -> {response.status_code} (expected {expect}): "
                f"{text}"
            )
        return response

    async def pupil(self, pupil: Pupil) -> None:
        http = httpx.AsyncClient(
            base_url=self.site.base_url,
            transport=self.transport,
            headers={"X-Forwarded-For": pupil.address},
            timeout=REQUEST_TIMEOUT,
            follow_redirects=False,
            trust_env=False,
        )
        # Every pupil's first flow runs even past the deadline (on a slow machine), so that
        # every account is seen signing in; the run's timeout still bounds it.
        while not self.ledger.flows[pupil.login] or time.monotonic() < self.deadline:
            async with self.slots:
                if self.ledger.flows[pupil.login] and time.monotonic() >= self.deadline:
                    return
                http.cookies.clear()  # a new browser: the whole sign-in happens
                try:
                    await self.flow(http, pupil)
                except FlowError as exc:
                    self.ledger.failures.append(f"{pupil.login}: {exc}")
                    return  # the test fails; the others go on, to show what else breaks
            self.ledger.flows[pupil.login] += 1

    async def sign_in_form(
        self, http: httpx.AsyncClient, pupil: Pupil, page: str, password: str
    ) -> httpx.Response:
        form = {
            "csrf_token": _field(CSRF, page, "CSRF token"),
            "next": _field(NEXT, page, "next field"),
            "login": pupil.login,
            "password": password,
        }
        response = await self.send(http, "POST", self.site.path("/login"), None, data=form)
        if TOO_MANY in response.text:
            raise FlowError(f"« {TOO_MANY} » for {pupil.login} ({response.status_code})")
        return response

    async def flow(self, http: httpx.AsyncClient, pupil: Pupil) -> None:
        ledger, site = self.ledger, self.site
        verifier, challenge = pkce()
        state = secrets.token_urlsafe(12)
        query = {
            "response_type": "code",
            "client_id": site.client_id,
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
            "state": state,
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        r = await self.send(http, "GET", site.path(f"/oidc/authorize?{urlencode(query)}"), 303)
        r = await self.send(http, "GET", r.headers["location"], 200)
        page = r.text

        if pupil.rng.random() < WRONG_RATE and ledger.wrong[pupil.address] < WRONG_PER_ADDRESS:
            other = pupil.rng.choice(site.pupils)
            if other is not pupil:
                ledger.wrong[pupil.address] += 1
                r = await self.sign_in_form(http, pupil, page, other.password)
                if r.status_code != 200 or BAD_PASSWORD not in r.text:
                    raise FlowError(f"a wrong password got {r.status_code}, not « {BAD_PASSWORD} »")
                page = r.text

        if pupil.initial is not None:
            r = await self.sign_in_form(http, pupil, page, pupil.initial)
            if r.status_code != 303 or not r.headers["location"].endswith("/password/change"):
                raise FlowError(f"the birth date got {r.status_code}, not the forced change")
            r = await self.send(http, "GET", r.headers["location"], 200)
            form = {
                "csrf_token": _field(CSRF, r.text, "CSRF token"),
                "new_password": pupil.password,
                "new_password_confirmation": pupil.password,
            }
            r = await self.send(http, "POST", site.path("/password/change"), 303, data=form)
            # The session ends with the change: sign in again; the module's request waits.
            r = await self.send(http, "GET", r.headers["location"], 200)
            page = r.text
            pupil.initial = None
            ledger.changed.add(pupil.login)

        r = await self.sign_in_form(http, pupil, page, pupil.password)
        if r.status_code != 303:
            raise FlowError(
                f"the right password got {r.status_code}: {' '.join(r.text[:200].split())}"
            )
        cookie = http.cookies.get(f"cpro-{SCHOOL}")
        if not cookie:
            raise FlowError("no session cookie after signing in")
        ledger.sign_ins[pupil.address] += 1
        token = site.cookie_signer.unsign(cookie, max_age=3600)
        ledger.session_hashes.append(secret_hash(token))

        r = await self.send(http, "GET", r.headers["location"], 302)
        location = r.headers["location"]
        params = parse_qs(urlsplit(location).query)
        if not location.startswith(REDIRECT + "?") or params.get("state") != [state]:
            raise FlowError(f"the callback is {location.split('?')[0]} with {sorted(params)}")
        code = params["code"][0]
        ledger.code_hashes.append(secret_hash(code))

        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }
        r = await self.send(http, "POST", site.path("/oidc/token"), 200, data=form, auth=self.basic)
        first = r.json()
        if "id_token" not in first or "refresh_token" not in first:
            raise FlowError(f"the code gave {sorted(first)}")
        ledger.jtis.append(_jti(first["access_token"]))
        ledger.refresh_hashes.append(secret_hash(first["refresh_token"]))
        await self.userinfo(http, pupil, first["access_token"], 200)

        form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        r = await self.send(http, "POST", site.path("/oidc/token"), 200, data=form, auth=self.basic)
        second = r.json()
        if second.get("refresh_token") in (None, first["refresh_token"]):
            raise FlowError("the refresh token did not rotate")
        ledger.jtis.append(_jti(second["access_token"]))
        ledger.refresh_hashes.append(secret_hash(second["refresh_token"]))
        await self.userinfo(http, pupil, second["access_token"], 200)

        # The old refresh token is spent: refused, and its reuse revokes the family.
        for spent in (first["refresh_token"], second["refresh_token"]):
            form = {"grant_type": "refresh_token", "refresh_token": spent}
            r = await self.send(
                http, "POST", site.path("/oidc/token"), 400, data=form, auth=self.basic
            )
            if r.json().get("error") != "invalid_grant":
                raise FlowError(f"a spent refresh token got {r.json()}")
        await self.userinfo(http, pupil, second["access_token"], 401)

    async def userinfo(
        self, http: httpx.AsyncClient, pupil: Pupil, access_token: str, expect: int
    ) -> None:
        headers = {"Authorization": f"Bearer {access_token}"}
        r = await self.send(http, "GET", self.site.path("/oidc/userinfo"), expect, headers=headers)
        if expect == 200:
            claims = r.json()
            if (claims.get("sub"), claims.get("preferred_username")) != (pupil.sub, pupil.login):
                raise FlowError(f"userinfo of {pupil.login} says {claims}")

    async def run(self) -> None:
        await asyncio.gather(*(self.pupil(p) for p in self.site.pupils))


# -- the site: an establishment with its pupils, a module, a server ------------------------


def _passphrase(rng: random.Random) -> str:
    words = ("nuage", "falaise", "tortue", "lanterne", "orage", "cerise", "boussole", "glacier")
    return f"{rng.choice(words)} {rng.choice(words)} {secrets.token_hex(3)} {rng.choice(words)}"


def _provision(
    database_url: str,
    secret: str,
    directory: Path,
    *,
    count: int,
    first_login_every: int | None,
    addresses: tuple[str, ...],
) -> tuple[str, str, list[Pupil]]:
    """Through the services, in this process, before the server starts (a CLI run per pupil
    would take minutes)."""
    settings = Settings(
        database_url=database_url,
        secret_key=secret,
        argon2_memory_kib=ARGON2_KIB,
        argon2_time_cost=ARGON2_TIME,
        mail_backend="file",
        mail_dir=directory / "mail",
    )
    rt = build_runtime(settings)
    pupils: list[Pupil] = []
    try:
        with rt.database.session() as session:
            establishments.create(
                rt, session, code=SCHOOL, name="Lycée professionnel en charge", uai_code=UAI_A,
                email="secretariat@lp-charge.example", send_welcome=False,
            )  # fmt: skip
            module = clients.add(rt, session, SCHOOL, name="C Pro STI", redirect_uris_=[REDIRECT])
            for i in range(count):
                rng = random.Random(i)
                birth = date(2008 + i % 3, 1 + i % 12, 1 + i % 28)
                user = accounts.add(
                    rt, session, SCHOOL, first_name=f"Eleve{i:03d}", last_name="Charge",
                    birth_date=birth, role=Role.STUDENT, groups=[f"CAP-{i % 12}"],
                ).user  # fmt: skip
                password = _passphrase(rng)
                initial = None
                if first_login_every and i % first_login_every == 0:
                    initial = birth.strftime("%d%m%Y")
                else:
                    accounts.set_password(
                        rt, session, SCHOOL, user.login, password, temporary=False
                    )
                address = addresses[i % len(addresses)]
                pupils.append(Pupil(user.login, user.sub, address, password, initial, rng))
            client_id, client_secret = module.client.client_id, module.secret
    finally:
        rt.close()
    assert client_secret is not None
    return client_id, client_secret, pupils


@contextlib.contextmanager
def _serve(
    database_url: str,
    directory: Path,
    *,
    count: int,
    first_login_every: int | None = FIRST_LOGIN_EVERY,
    addresses: tuple[str, ...] = ADDRESSES,
    argon2: tuple[int, int] = (ARGON2_KIB, ARGON2_TIME),
    settings: dict[str, str] | None = None,
) -> Iterator[Site]:
    """The establishment and its pupils, then `idp serve` on a loopback port."""
    secret = secrets.token_urlsafe(48)
    started = time.monotonic()
    client_id, client_secret, pupils = _provision(
        database_url,
        secret,
        directory,
        count=count,
        first_login_every=first_login_every,
        addresses=addresses,
    )
    print(f"\nprovisioned {len(pupils)} pupils in {time.monotonic() - started:.1f} s")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(
        {
            "IDP_DATABASE_URL": database_url,
            "IDP_SECRET_KEY": secret,
            "IDP_BASE_URL": base_url,
            "IDP_ARGON2_MEMORY_KIB": str(argon2[0]),
            "IDP_ARGON2_TIME_COST": str(argon2[1]),
            "IDP_MAIL_BACKEND": "file",
            "IDP_MAIL_DIR": str(directory / "mail"),
            # The load generator is the schools' proxy: it says who is behind it.
            "IDP_TRUSTED_PROXIES": "127.0.0.1/32",
            **(settings or {}),
        }
    )
    log = directory / "serve.log"
    process = start_server(
        [IDP, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS)],
        cwd=directory,
        env=env,
        log=log,
        health_url=f"{base_url}/healthz",
    )
    try:
        signer = Signer(secret, "session")
        yield Site(base_url, client_id, client_secret, directory, log, database_url, pupils, signer)
    finally:
        stop_server(process)


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with _serve(database_url, tmp_path, count=PUPILS) as served:
        yield served


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1] * 1000 if ordered else math.nan


async def _drive(site: Site) -> tuple[Ledger, float]:
    # Idle connections are dropped here before uvicorn drops them (after 5 s): otherwise a
    # request may go out on a connection the server is closing at that instant.
    limits = httpx.Limits(
        max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT, keepalive_expiry=2.0
    )
    transport = httpx.AsyncHTTPTransport(limits=limits)
    start = time.monotonic()
    load = Load(site, transport, deadline=start + SECONDS)
    try:
        async with asyncio.timeout(SECONDS + DRAIN_SECONDS):
            await load.run()
    except TimeoutError:
        load.ledger.failures.append(f"flows still running {DRAIN_SECONDS:.0f} s after the end")
    finally:
        await transport.aclose()
    return load.ledger, time.monotonic() - start


def test_pupils_behind_few_addresses_sign_in_for_a_minute(site: Site) -> None:
    ledger, elapsed = asyncio.run(_drive(site))
    flows = sum(ledger.flows.values())
    database = "PostgreSQL" if site.database_url.startswith("postgresql") else "SQLite"
    print(
        f"{database}: {len(site.pupils)} pupils behind {len(ADDRESSES)} addresses, "
        f"{IN_FLIGHT} flows in flight, {WORKERS} workers: {flows} flows "
        f"({sum(ledger.sign_ins.values())} sign-ins, {sum(ledger.wrong.values())} wrong "
        f"passwords, {len(ledger.changed)} first-login changes) and {ledger.requests} "
        f"requests in {elapsed:.1f} s: {ledger.requests / elapsed:.0f} requests/s, "
        f"{flows / elapsed:.1f} flows/s, p50 {_percentile(ledger.latencies, 0.5):.0f} ms, "
        f"p95 {_percentile(ledger.latencies, 0.95):.0f} ms, "
        f"p99 {_percentile(ledger.latencies, 0.99):.0f} ms; statuses {dict(ledger.statuses)}"
    )
    log = site.log.read_text(errors="replace")
    server_errors = {s: n for s, n in ledger.statuses.items() if s >= 500}
    assert not server_errors, (server_errors, ledger.failures[:10])
    assert not ledger.failures, (len(ledger.failures), ledger.failures[:10], log[-3000:])
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
    # Every pupil got in, the ones on their birth date after choosing a password.
    assert len(ledger.flows) == len(site.pupils)
    assert ledger.changed == {p.login for p in site.pupils[::FIRST_LOGIN_EVERY]}
    _check_rows(site, ledger, flows)


def _check_rows(site: Site, ledger: Ledger, flows: int) -> None:
    engine = make_engine(site.database_url)
    try:
        with engine.connect() as db:
            _check_sessions_and_codes(db, ledger, flows)
            _check_tokens(db, ledger, flows)
            _check_audit_and_throttles(db, site, ledger, flows)
    finally:
        engine.dispose()


def _all(db, *columns):  # type: ignore[no-untyped-def]
    return db.execute(select(*columns)).all()


def _check_sessions_and_codes(db, ledger: Ledger, flows: int) -> None:  # type: ignore[no-untyped-def]
    # One session per sign-in, none ended (a first-login change ends none: none was open).
    sessions = _all(db, SsoSession.token_hash, SsoSession.ip, SsoSession.ended_at)
    assert len(sessions) == flows == len(set(ledger.session_hashes))
    assert sorted(s.token_hash for s in sessions) == sorted(ledger.session_hashes)
    assert [s for s in sessions if s.ended_at is not None] == []
    assert Counter(s.ip for s in sessions) == ledger.sign_ins
    # One code per authorization, each used once; no authorization request left waiting.
    codes = _all(db, AuthorizationCode.code_hash, AuthorizationCode.used_at)
    assert sorted(c.code_hash for c in codes) == sorted(ledger.code_hashes)
    assert len(set(ledger.code_hashes)) == flows
    assert [c for c in codes if c.used_at is None] == []
    assert db.scalar(select(func.count()).select_from(PendingAuthorization)) == 0


def _check_tokens(db, ledger: Ledger, flows: int) -> None:  # type: ignore[no-untyped-def]
    tokens = _all(
        db, Token.jti, Token.refresh_hash, Token.family, Token.code_id, Token.rotated_at,
        Token.revoked_at, Token.user_id, Token.sso_session_id,
    )  # fmt: skip
    # Each access token the clients got is one row, and no jti or refresh token twice.
    assert len(tokens) == 2 * flows
    assert len(set(ledger.jtis)) == len(ledger.jtis) == 2 * flows
    assert sorted(t.jti for t in tokens) == sorted(ledger.jtis)
    assert len(set(ledger.refresh_hashes)) == 2 * flows
    assert sorted(t.refresh_hash for t in tokens) == sorted(ledger.refresh_hashes)
    # Each chain: the code's token, rotated once into a second one of the same code, user
    # and session; the reuse of the first revoked both.
    families: dict[str, list] = {}  # type: ignore[type-arg]
    for token in tokens:
        families.setdefault(token.family, []).append(token)
    assert len(families) == flows
    codes = db.execute(select(AuthorizationCode.id, AuthorizationCode.user_id)).all()
    code_users = dict(codes)
    assert len({chain[0].code_id for chain in families.values()}) == flows
    for family, chain in families.items():
        assert len(chain) == 2, (family, chain)
        assert len({(t.code_id, t.user_id, t.sso_session_id) for t in chain}) == 1, chain
        assert code_users[chain[0].code_id] == chain[0].user_id
        assert sorted(t.rotated_at is None for t in chain) == [False, True], chain
        assert all(t.revoked_at is not None for t in chain), chain


def _check_audit_and_throttles(db, site: Site, ledger: Ledger, flows: int) -> None:  # type: ignore[no-untyped-def]
    events = Counter(t for (t,) in db.execute(select(AuditEvent.type)).all())
    changes = len(ledger.changed)
    wrong = sum(ledger.wrong.values())
    expected = {
        "login.success": flows,
        "login.failure": wrong,
        "login.password_change_required": changes,
        "password.changed": changes,
        "authorize.code_issued": flows,
        "token.refresh_reused": flows,
    }
    setup = {"establishment.created": 1, "client.created": 1, "user.created": len(site.pupils)}
    setup["password.set"] = len(site.pupils) - changes
    assert events == Counter(expected | setup)
    # The audit trail says where each sign-in came from: the address behind the proxy.
    rows = db.execute(
        select(AuditEvent.ip, AuditEvent.details).where(AuditEvent.type == "login.failure")
    ).all()
    assert Counter(r.ip for r in rows) == ledger.wrong
    assert {r.details["reason"] for r in rows} <= {"bad_password"}
    successes = db.execute(select(AuditEvent.ip).where(AuditEvent.type == "login.success"))
    assert Counter(ip for (ip,) in successes) == ledger.sign_ins
    # Each address's counter holds its wrong passwords and nothing else (a right one never
    # counts); each account's was reset by its next success.
    counters = dict(db.execute(select(Throttle.scope, Throttle.failures)).all())
    for address in ADDRESSES:
        assert counters.get(f"ip:{address}", 0) == ledger.wrong[address], (address, counters)
    assert {s: n for s, n in counters.items() if s.startswith("account:") and n} == {}
    assert db.scalar(select(func.count()).select_from(User)) == len(site.pupils) + 1


# -- a whole school behind one address, at once --------------------------------------------

STORM = int(os.environ.get("IDP_TEST_STORM_PUPILS", "200"))


def test_a_whole_school_behind_one_address_signing_in_at_once_is_let_in(
    database_url: str, tmp_path: Path
) -> None:
    """More pupils than the address's free failures (100) post the right password in the
    same instant from the school's one address, hashed at the production cost so that they
    are all in flight together (and waiting for a hash may take long: no 503 here). The
    address has no failure at all; the policy counts failures only (idp.accounts.throttling)."""
    with _serve(
        database_url, tmp_path, count=STORM, first_login_every=None, addresses=ADDRESSES[:1],
        argon2=(19456, 2), settings={"IDP_HASH_QUEUE_TIMEOUT": "120"},
    ) as site:  # fmt: skip
        answers = asyncio.run(_storm(site))
    statuses = Counter(status for status, _ in answers)
    refused = [text for status, text in answers if status != 303]
    print(f"{len(answers)} pupils at once from one address: {dict(statuses)}")
    assert refused == [], (len(refused), refused[:3])


async def _storm(site: Site) -> list[tuple[int, str]]:
    transport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=0)
    )
    # A browser each (its own cookies), through one proxy: the school's address.
    browsers = [
        httpx.AsyncClient(
            base_url=site.base_url,
            transport=transport,
            headers={"X-Forwarded-For": pupil.address},
            timeout=REQUEST_TIMEOUT,
            trust_env=False,
        )
        for pupil in site.pupils
    ]

    async def page(http: httpx.AsyncClient) -> str:
        r = await http.get(site.path("/login"))
        assert r.status_code == 200, r.status_code
        return _field(CSRF, r.text, "CSRF token")

    async def post(http: httpx.AsyncClient, pupil: Pupil, csrf: str) -> tuple[int, str]:
        form = {"csrf_token": csrf, "login": pupil.login, "password": pupil.password}
        r = await http.post(site.path("/login"), data=form)
        error = re.search(r'id="login-error">\s*<p>([^<]*)<', r.text)
        return r.status_code, html.unescape(error.group(1)).strip() if error else ""

    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            tokens = await asyncio.gather(*(page(http) for http in browsers))
            return await asyncio.gather(
                *(
                    post(http, pupil, csrf)
                    for http, pupil, csrf in zip(browsers, site.pupils, tokens, strict=True)
                )
            )
    finally:
        await transport.aclose()


def test_a_storm_past_the_hashing_capacity_gets_the_retry_page_never_an_error(
    database_url: str, tmp_path: Path
) -> None:
    """More pupils at once than one hashing slot can serve within IDP_HASH_QUEUE_TIMEOUT:
    each gets either signed in or the clear « réessayez » page (503, Retry-After), within
    the queue timeout plus its own hash; never a 500 (the busy page used to raise)."""
    with _serve(
        database_url, tmp_path, count=60, first_login_every=None, addresses=ADDRESSES[:1],
        # Sixty hashes of ~50 ms each through one slot take three seconds, six times the
        # queue timeout, however the posts are spread.
        argon2=(19456, 6),
        settings={"IDP_HASH_CONCURRENCY": "1", "IDP_HASH_QUEUE_TIMEOUT": "0.5"},
    ) as site:  # fmt: skip
        answers = asyncio.run(_busy_storm(site))
    statuses = Counter(status for status, _, _ in answers)
    print(f"{len(answers)} pupils at once, one hashing slot: {dict(statuses)}")
    assert set(statuses) <= {303, 503}, statuses
    assert statuses[503] > 0 and statuses[303] > 0, statuses
    for status, text, retry_after in answers:
        if status == 503:
            assert "Veuillez réessayer dans quelques instants" in text
            assert retry_after == "5"


async def _busy_storm(site: Site) -> list[tuple[int, str, str | None]]:
    transport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=0)
    )
    browsers = [
        httpx.AsyncClient(
            base_url=site.base_url,
            transport=transport,
            headers={"X-Forwarded-For": pupil.address},
            timeout=REQUEST_TIMEOUT,
            trust_env=False,
        )
        for pupil in site.pupils
    ]

    async def page(http: httpx.AsyncClient) -> str:
        return _field(CSRF, (await http.get(site.path("/login"))).text, "CSRF token")

    async def post(
        http: httpx.AsyncClient, pupil: Pupil, csrf: str
    ) -> tuple[int, str, str | None]:
        form = {"csrf_token": csrf, "login": pupil.login, "password": pupil.password}
        r = await http.post(site.path("/login"), data=form)
        return r.status_code, html.unescape(r.text), r.headers.get("retry-after")

    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            # Every page first, then every form at once: fetching and posting in one go
            # spread the posts out enough that a fast machine hashed them all in time.
            tokens = await asyncio.gather(*(page(http) for http in browsers))
            return await asyncio.gather(
                *(
                    post(http, pupil, csrf)
                    for http, pupil, csrf in zip(browsers, site.pupils, tokens, strict=True)
                )
            )
    finally:
        await transport.aclose()
