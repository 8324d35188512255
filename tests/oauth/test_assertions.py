"""private_key_jwt assertion ids in the database (RFC 7523 §3 item 7, OIDC Core §9): an
assertion is accepted once, whichever instance and however many requests present it at
once; its id is remembered until the assertion expires, per client."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from helpers import UAI_A
from idp.models import AuditEvent, Client, UsedAssertion
from idp.oauth.client_auth import _JWKS_CACHE_SIZE, PrivateKeyJwt
from idp.purge import purge
from idp.security.outbound import Outbound
from idp.services import clients, establishments
from idp.store import assertions, audit
from idp.store import establishments as establishment_store
from oauth_support import REDIRECT, free_port

KIND = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def module_with_key(provider, school: str, name: str) -> tuple[str, ECKey]:  # type: ignore[no-untyped-def]
    key = ECKey.generate_key("P-256", parameters={"kid": f"{name}-1"}, private=True)
    created = provider.rt.run(
        clients.add,
        school,
        name=name,
        redirect_uris_=[REDIRECT],
        auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    return created.client.client_id, key


def make_assertion(provider, school, client_id, key, jti=None, **times):  # type: ignore[no-untyped-def]
    now = int(time.time())  # assertions are checked against the wall clock
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{provider.issuer(school)}/oidc/token",
        "iat": now,
        "exp": now + 120,
        "jti": jti or uuid.uuid4().hex,
    }
    # An offset from now for each time given; None leaves the claim out.
    claims.update(
        {name: None if offset is None else now + offset for name, offset in times.items()}
    )
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key), claims


def backend_token(provider, school, assertion: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    """A module's back end asking for a token (client_credentials), signed in by assertion."""
    with httpx.Client() as http:
        return http.post(
            f"{provider.issuer(school)}/oidc/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": KIND,
                "client_assertion": assertion,
            },
        )


def used(rt) -> list[UsedAssertion]:  # type: ignore[no-untyped-def]
    with rt.database.session() as s:
        return list(s.scalars(select(UsedAssertion)))


def test_a_replayed_assertion_is_refused(provider, school_a):
    client_id, key = module_with_key(provider, school_a, "PKJ")
    assertion, claims = make_assertion(provider, school_a, client_id, key)
    first = backend_token(provider, school_a, assertion)
    assert first.status_code == 200, first.text
    replay = backend_token(provider, school_a, assertion)
    assert replay.status_code in (400, 401) and replay.json()["error"] == "invalid_client"
    # A new assertion (a new jti) is of course accepted.
    fresh, _ = make_assertion(provider, school_a, client_id, key)
    assert backend_token(provider, school_a, fresh).status_code == 200
    [row, _other] = sorted(used(provider.rt), key=lambda r: r.expires_at)
    assert row.client_id == client_id
    assert row.jti_hash != claims["jti"] and len(row.jti_hash) == 64  # stored hashed
    # Remembered until the assertion can no longer be accepted: its exp plus the leeway.
    assert row.expires_at == datetime.fromtimestamp(claims["exp"] + 60, UTC)


@pytest.mark.parametrize(
    ("iat", "exp", "accepted"),
    [
        (0, 300, True),  # five minutes from its issue: the longest allowed
        (0, 301, False),
        (-200, 110, False),  # issued a while ago, still ending more than 5 min after
        (-200, 100, True),
        (None, 290, True),  # no iat: five minutes from now, with the leeway for skew
        (None, 600, False),
        (None, 10**20, False),  # beyond what a float holds: refused, not a 500
    ],
)
def test_an_assertion_living_longer_than_five_minutes_is_refused(
    provider, school_a, iat, exp, accepted
):
    client_id, key = module_with_key(provider, school_a, "PKJ")
    times = {"exp": exp if exp < 10**10 else exp - int(time.time())}
    times["iat"] = iat
    assertion, _ = make_assertion(provider, school_a, client_id, key, **times)
    answer = backend_token(provider, school_a, assertion)
    if accepted:
        assert answer.status_code == 200, answer.text
    else:
        assert answer.status_code in (400, 401), answer.text
        assert answer.json()["error"] == "invalid_client"
        assert "5 minutes" in answer.json()["error_description"]
        assert used(provider.rt) == []  # nothing remembered for a refused assertion


def test_an_assertion_id_is_per_client(provider, school_a):
    one, one_key = module_with_key(provider, school_a, "One")
    two, two_key = module_with_key(provider, school_a, "Two")
    jti = uuid.uuid4().hex
    first, _ = make_assertion(provider, school_a, one, one_key, jti)
    assert backend_token(provider, school_a, first).status_code == 200
    other, _ = make_assertion(provider, school_a, two, two_key, jti)
    accepted = backend_token(provider, school_a, other)
    assert accepted.status_code == 200, accepted.text
    assert {r.client_id for r in used(provider.rt)} == {one, two}


def present_together(provider, school, assertion: str, n: int = 2) -> list[str]:  # type: ignore[no-untyped-def]
    """`n` requests with the same assertion, released at the same instant: what each got
    (`ok`, or the error)."""
    start = threading.Barrier(n)
    answers: list[str] = []

    def present() -> None:
        start.wait()
        response = backend_token(provider, school, assertion)
        answers.append("ok" if response.status_code == 200 else response.json()["error"])

    threads = [threading.Thread(target=present) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return answers


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_one_assertion_presented_twice_at_once_is_accepted_once(provider, school_a):
    client_id, key = module_with_key(provider, school_a, "PKJ")
    for _round in range(5):
        assertion, _ = make_assertion(provider, school_a, client_id, key)
        answers = present_together(provider, school_a, assertion)
        assert sorted(answers) == ["invalid_client", "ok"], answers
    assert len(used(provider.rt)) == 5


# -- the store, on both databases ----------------------------------------------------------


@pytest.fixture
def school(rt):  # type: ignore[no-untyped-def]
    rt.run(
        establishments.create,
        code="lp-a",
        name="Lycée professionnel A",
        uai_code=UAI_A,
        email="secretariat@lp-a.example",
        send_welcome=False,
    )
    return "lp-a"


def remember(rt, jti: str, *, expires_at, now, client_id="m1") -> bool:  # type: ignore[no-untyped-def]
    with rt.database.session() as s:
        return assertions.remember(
            s,
            establishment_store.by_code(s, "lp-a"),
            client_id,
            jti,
            expires_at=expires_at,
            now=now,
        )


def test_a_racing_insert_waits_for_the_first_and_is_refused(rt, school):
    """Two instances insert the same key: the second waits for the first to commit (the
    unique key on PostgreSQL, the write lock on SQLite), then is refused."""
    now = datetime.now(UTC)
    inserted, results = threading.Event(), {}

    def first() -> None:
        with rt.database.session() as s:
            establishment = establishment_store.by_code(s, "lp-a")
            results["first"] = assertions.remember(
                s, establishment, "m1", "j1", expires_at=now + timedelta(minutes=3), now=now
            )
            inserted.set()
            time.sleep(0.5)  # the first request goes on a while before it commits

    def second() -> None:
        inserted.wait(10)
        started = time.monotonic()
        results["second"] = remember(rt, "j1", expires_at=now + timedelta(minutes=3), now=now)
        results["waited"] = time.monotonic() - started

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results["first"] is True and results["second"] is False
    assert results["waited"] > 0.3


def test_a_duplicate_leaves_the_callers_transaction_usable(rt, school):
    now = datetime.now(UTC)
    assert remember(rt, "j1", expires_at=now + timedelta(minutes=3), now=now)
    with rt.database.session() as s:
        establishment = establishment_store.by_code(s, "lp-a")
        assert not assertions.remember(
            s, establishment, "m1", "j1", expires_at=now + timedelta(minutes=3), now=now
        )
        # Only the savepoint was lost: the request's other writes still commit.
        audit.record(s, establishment, audit.EventType.USER_UNBLOCKED, at=now)
    with rt.database.session() as s:
        assert s.scalar(select(func.count()).select_from(UsedAssertion)) == 1
        kept = select(func.count()).where(AuditEvent.type == "user.unblocked")
        assert s.scalar(kept) == 1


def test_an_id_may_be_used_again_once_its_assertion_has_expired(rt, school):
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=3)
    assert remember(rt, "j1", expires_at=expires, now=now)
    assert not remember(rt, "j1", expires_at=expires, now=expires - timedelta(seconds=1))
    later = expires + timedelta(seconds=1)
    assert remember(rt, "j1", expires_at=later + timedelta(minutes=3), now=later)
    assert not remember(rt, "j1", expires_at=later + timedelta(minutes=3), now=later)
    # Another client's, or another establishment's, id is another id.
    assert remember(rt, "j1", expires_at=expires, now=now, client_id="m2")


def test_purge_forgets_expired_assertion_ids(rt, school, clock):
    now = datetime.now(UTC)
    assert remember(rt, "old", expires_at=now + timedelta(minutes=1), now=now)
    assert remember(rt, "new", expires_at=now + timedelta(minutes=10), now=now)
    clock.set(now + timedelta(minutes=5))
    assert purge(rt).counts["assertion ids"] == 1
    assert len(used(rt)) == 1


# -- the per-process cache of modules' key sets --------------------------------------------


def test_the_jwks_cache_is_bounded_and_keeps_the_recently_used():
    key = ECKey.generate_key("P-256", parameters={"kid": "k"}, private=True)
    fetches: list[str] = []

    async def jwks(request):  # type: ignore[no-untyped-def]
        fetches.append(request.path_params["name"])
        return JSONResponse({"keys": [key.as_dict(private=False)]})

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/{name}/jwks", jwks)]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        # Only the server's outbound rules are asked here (development: loopback allowed).
        dev = SimpleNamespace(
            rt=SimpleNamespace(outbound=Outbound(allow_loopback=True)), db=Session()
        )
        auth = PrivateKeyJwt(dev)  # type: ignore[arg-type]
        modules = [
            Client(client_id=f"m{i}", jwks=None, jwks_uri=f"http://127.0.0.1:{port}/m{i}/jwks")
            for i in range(_JWKS_CACHE_SIZE + 1)
        ]
        for module in modules[:-1]:
            auth.resolve_client_public_key(module)
        auth.resolve_client_public_key(modules[0])  # a hit: now the most recently used
        assert len(fetches) == _JWKS_CACHE_SIZE
        auth.resolve_client_public_key(modules[-1])
        assert len(auth._jwks) == _JWKS_CACHE_SIZE
        cached = {client_id for client_id, _uri in auth._jwks}
        assert "m0" in cached and "m1" not in cached and f"m{_JWKS_CACHE_SIZE}" in cached
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_failing_jwks_uri_is_asked_again_only_after_a_while(provider, school_a):
    """A module's key endpoint that fails (here, nobody listens) is not asked at each of its
    requests: the failure is remembered for a few seconds."""
    port = free_port()
    created = provider.rt.run(
        clients.add,
        school_a,
        name="Down",
        redirect_uris_=[REDIRECT],
        auth_method="private_key_jwt",
        jwks_uri=f"http://127.0.0.1:{port}/jwks",
    )
    key = ECKey.generate_key("P-256", parameters={"kid": "k"}, private=True)
    calls: list[str] = []
    outbound = provider.rt.outbound
    original = outbound.get

    def counting(uri, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(uri)
        return original(uri, **kwargs)

    outbound.get = counting
    try:
        for _ in range(3):
            assertion, _ = make_assertion(provider, school_a, created.client.client_id, key)
            answer = backend_token(provider, school_a, assertion)
            assert answer.status_code in (400, 401)
            assert answer.json()["error"] == "invalid_client"
    finally:
        outbound.get = original
    assert len(calls) == 1
