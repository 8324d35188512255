"""The back-channel logout outbox (OpenID Connect Back-Channel Logout 1.0 §2.5-2.8): queued
with the session end, delivered by a sender to real receivers on loopback ports, retried on
the schedule (the frozen clock advances instead of the test sleeping), shared by senders."""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from dataclasses import replace
from datetime import date, timedelta

import anyio
import pytest
from joserfc import jwt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpers import UAI_A
from idp.accounts.roles import Role
from idp.models import BackchannelNotice, SsoSession
from idp.oauth.backchannel import RETRY_DELAYS, Sender
from idp.oauth.logout import EVENT
from idp.purge import purge
from idp.runtime import build_runtime
from idp.services import accounts, clients, establishments
from idp.store import clients as client_store
from idp.store import codes, outbox, sessions, users
from idp.store import establishments as establishment_store
from oauth_support import REDIRECT, Listener, Receiver, free_port

SCHOOL = "lp-a"


@pytest.fixture
def receivers():  # type: ignore[no-untyped-def]
    started: list[Receiver] = []

    def start(
        answers: tuple[int, ...] = (200,), delay: float = 0.0, location: str | None = None
    ) -> Receiver:
        started.append(Receiver(answers, delay, location))
        return started[-1]

    yield start
    for r in started:
        r.stop()


def create_school(rt) -> str:  # type: ignore[no-untyped-def]
    rt.run(
        establishments.create,
        code=SCHOOL,
        name="Lycée professionnel A",
        uai_code=UAI_A,
        email="secretariat@lp-a.example",
        send_welcome=False,
    )
    rt.run(
        accounts.add,
        SCHOOL,
        first_name="Léa",
        last_name="Martin",
        birth_date=date(2009, 3, 14),
        role=Role.STUDENT,
    )
    return SCHOOL


@pytest.fixture
def school(rt):  # type: ignore[no-untyped-def]
    return create_school(rt)


def add_module(rt, uri: str, name: str = "C Pro STI") -> str:  # type: ignore[no-untyped-def]
    created = rt.run(
        clients.add,
        SCHOOL,
        name=name,
        redirect_uris_=[REDIRECT],
        backchannel_logout_uri=uri,
    )
    return created.client.client_id


def signed_in(rt, *client_ids: str) -> int:  # type: ignore[no-untyped-def]
    """An SSO session of Léa's in which each module took part (got a code); its id."""
    now = rt.clock.now()
    with rt.database.session() as s:
        establishment = establishment_store.by_code(s, SCHOOL)
        user = users.by_login(s, establishment, "lea.martin")
        session_id = sessions.add(
            s,
            establishment,
            user.id,
            token_hash=secrets.token_hex(32),
            now=now,
            expires_at=now + timedelta(hours=12),
            ip=None,
            user_agent=None,
        )
        for client_id in client_ids:
            client = client_store.by_client_id(s, establishment, client_id)
            codes.add(
                s,
                establishment,
                code_hash=secrets.token_hex(32),
                client_pk=client.id,
                user_id=user.id,
                sso_session_id=session_id,
                redirect_uri=REDIRECT,
                scope="openid",
                auth_time=now,
                created_at=now,
                expires_at=now + timedelta(minutes=1),
            )
        return session_id


def sign_out(rt, sso_session_id: int):  # type: ignore[no-untyped-def]
    """End the session as every caller does: in a unit of work (its commit wakes the sender)."""
    now = rt.clock.now()
    with rt.database.session() as s:
        establishment = establishment_store.by_code(s, SCHOOL)
        return rt.logout.end_session(s, establishment, s.get(SsoSession, sso_session_id), now)


def rows(rt) -> list[BackchannelNotice]:  # type: ignore[no-untyped-def]
    with rt.database.session() as s:
        return list(s.scalars(select(BackchannelNotice).order_by(BackchannelNotice.id)))


def decode(rt, token: str):  # type: ignore[no-untyped-def]
    with rt.database.session() as s:
        establishment = establishment_store.by_code(s, SCHOOL)
        keys = rt.keys.verification_keys(s, establishment.id)
    return jwt.decode(token, keys)


# -- queueing ------------------------------------------------------------------------------


def test_a_notice_is_queued_in_the_transaction_that_ends_the_session(rt, school, receivers):
    receiver = receivers()
    client_id = add_module(rt, receiver.url)
    add_module(rt, receiver.url, name="Passeport")  # took no part in the session
    sso = signed_in(rt, client_id)

    # A session end that rolls back tells no one.
    with pytest.raises(RuntimeError), rt.database.session() as s:
        establishment = establishment_store.by_code(s, SCHOOL)
        queued = rt.logout.end_session(s, establishment, s.get(SsoSession, sso), rt.clock.now())
        assert len(queued) == 1
        raise RuntimeError("the request failed after the session end")
    assert rows(rt) == []
    with rt.database.session() as s:
        assert s.get(SsoSession, sso).ended_at is None

    [notice] = sign_out(rt, sso)
    [row] = rows(rt)
    assert (row.client_id, row.uri, row.jti, row.attempts) == (
        client_id,
        receiver.url,
        notice.jti,
        0,
    )
    assert row.next_attempt_at == rt.clock.now() and row.claimed_until is None
    assert row.delivered_at is None and row.abandoned_at is None
    assert receiver.got == []  # nothing is sent by the session end itself


# -- outcomes ------------------------------------------------------------------------------


def test_a_2xx_answer_delivers_once(rt, school, receivers, clock):
    receiver = receivers((204,))  # §2.8: some frameworks answer 204 for 200
    client_id = add_module(rt, receiver.url)
    sso = signed_in(rt, client_id)
    [notice] = sign_out(rt, sso)

    assert rt.logout.drain() == 1
    [got] = receiver.got
    assert got.cache_control == "no-store"
    assert got.content_type == "application/x-www-form-urlencoded"
    decoded = decode(rt, got.token)
    assert decoded.header["typ"] == "logout+jwt"
    claims = decoded.claims
    assert claims["jti"] == notice.jti
    assert claims["aud"] == client_id and claims["iss"] == rt.settings.issuer(SCHOOL)
    assert claims["sid"] == notice.sid and claims["sub"] == notice.sub
    assert claims["events"] == {EVENT: {}} and "nonce" not in claims
    assert claims["exp"] - claims["iat"] == 120
    [row] = rows(rt)
    assert row.delivered_at == clock.now() and row.attempts == 1
    assert row.next_attempt_at is None and row.claimed_until is None

    clock.advance(hours=1)
    assert rt.logout.drain() == 0
    assert len(receiver.got) == 1


def test_a_4xx_is_final(rt, school, receivers, clock, caplog):
    receiver = receivers((400,))
    sso = signed_in(rt, add_module(rt, receiver.url))
    sign_out(rt, sso)
    with caplog.at_level(logging.INFO, logger="idp.oauth.backchannel"):
        assert rt.logout.drain() == 1
    [row] = rows(rt)
    assert row.abandoned_at == clock.now() and row.last_error == "HTTP 400"
    assert row.next_attempt_at is None and row.delivered_at is None
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "refused" in record.getMessage() and "HTTP 400" in record.getMessage()
    assert receiver.tokens[0] not in caplog.text  # never a token in a log line
    clock.advance(hours=1)
    assert rt.logout.drain() == 0 and len(receiver.got) == 1


@pytest.mark.parametrize("status", [503, 429])
def test_failures_are_retried_on_the_schedule_then_abandoned(
    rt, school, receivers, clock, caplog, status
):
    receiver = receivers((status,))
    sso = signed_in(rt, add_module(rt, receiver.url))
    [notice] = sign_out(rt, sso)
    with caplog.at_level(logging.INFO, logger="idp.oauth.backchannel"):
        assert rt.logout.drain() == 1
        for attempt, delay in enumerate(RETRY_DELAYS, start=2):
            clock.advance(delay - timedelta(milliseconds=1))
            assert rt.logout.drain() == 0, "not due yet"
            clock.advance(milliseconds=1)
            assert rt.logout.drain() == 1
            assert len(receiver.got) == attempt
    assert [round(d.total_seconds()) for d in RETRY_DELAYS] == [1, 5, 30, 120, 600]
    [row] = rows(rt)
    assert row.attempts == 6 and row.abandoned_at == clock.now()
    assert row.last_error == f"HTTP {status}" and row.next_attempt_at is None
    # The same jti on every attempt, in a token signed afresh each time.
    claims = [decode(rt, t).claims for t in receiver.tokens]
    assert {c["jti"] for c in claims} == {notice.jti}
    assert len(set(receiver.tokens)) == 6
    assert [c["iat"] for c in claims] == sorted({c["iat"] for c in claims})
    assert all(c["exp"] == c["iat"] + 120 for c in claims)
    [abandoned] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "abandoned after 6 attempt(s)" in abandoned.getMessage()
    assert not any(t in caplog.text for t in receiver.tokens)
    clock.advance(hours=1)
    assert rt.logout.drain() == 0 and len(receiver.got) == 6


def test_a_module_back_after_a_failure_gets_the_notice(rt, school, receivers, clock):
    receiver = receivers((500, 200))
    sso = signed_in(rt, add_module(rt, receiver.url))
    sign_out(rt, sso)
    assert rt.logout.drain() == 1
    [row] = rows(rt)
    assert (
        row.next_attempt_at == clock.now() + timedelta(seconds=1) and row.last_error == "HTTP 500"
    )
    clock.advance(seconds=1)
    assert rt.logout.drain() == 1
    [row] = rows(rt)
    assert row.delivered_at == clock.now() and row.attempts == 2 and row.last_error is None


def test_a_timeout_or_a_module_that_is_down_is_retried(rt, school, receivers, clock):
    slow = receivers(delay=2.0)
    down = f"http://127.0.0.1:{free_port()}/nobody-listens"
    sso = signed_in(rt, add_module(rt, slow.url), add_module(rt, down, name="Down"))
    sign_out(rt, sso)
    sender = Sender(
        rt.database,
        clock,
        sign=rt.logout.logout_token,
        issuer=rt.settings.issuer,
        outbound=rt.outbound,
        timeout=0.3,
    )
    started = time.monotonic()
    assert sender.drain() == 2
    assert time.monotonic() - started < 2, "a slow module does not hold the sender"
    by_uri = {r.uri: r for r in rows(rt)}
    assert by_uri[slow.url].last_error == "ReadTimeout"
    assert by_uri[down].last_error == "ConnectError"
    for row in by_uri.values():
        assert row.attempts == 1 and row.next_attempt_at == clock.now() + timedelta(seconds=1)
        assert row.delivered_at is None and row.abandoned_at is None


# -- outbound rules at send time (finding 1 of the outside review, SSRF) -------------------

PUBLIC = "93.184.215.14"


@pytest.fixture
def production(settings, clock):  # type: ignore[no-untyped-def]
    """A runtime with an https IDP_BASE_URL (loopback is not development's here), whose
    names resolve from `names`, a table the test changes: the runtime's resolver seam, as
    no name on this machine resolves to a public address, nor changes its answer."""
    names: dict[str, list[str]] = {}

    def resolve(name: str, port: int) -> list[str]:
        if name not in names:
            raise socket.gaierror(socket.EAI_NONAME, name)
        return names[name]

    runtime = build_runtime(
        replace(settings, base_url="https://idp.cpro.example"), clock=clock, resolver=resolve
    )
    create_school(runtime)
    yield runtime, names
    runtime.close()


@pytest.fixture
def listener():  # type: ignore[no-untyped-def]
    listening = Listener()
    yield listening
    listening.close()


def assert_refused_once(rt, clock, listener, caplog):  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO, logger="idp.oauth.backchannel"):
        assert rt.logout.drain() == 1
    [row] = rows(rt)
    assert row.abandoned_at == clock.now() and row.attempts == 1, "final: no retry"
    assert row.next_attempt_at is None and row.delivered_at is None
    assert row.last_error.startswith("address refused: ")
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "refused after 1 attempt(s): address refused" in record.getMessage()
    clock.advance(hours=1)
    assert rt.logout.drain() == 0
    time.sleep(0.2)  # the listener's accept loop polls every 0.1 s
    assert listener.connections == 0, "the internal address was never contacted"


def test_a_name_resolving_inside_now_is_refused_without_contact(
    production, clock, listener, caplog
):
    """Public when the module was registered, loopback at send time (DNS rebinding, or a
    record changed since): the sender's own lookup is the one that counts."""
    rt, names = production
    names["sti.cpro.example"] = [PUBLIC]
    client_id = add_module(rt, f"https://sti.cpro.example:{listener.port}/bc")
    names["sti.cpro.example"] = ["127.0.0.1"]
    sign_out(rt, signed_in(rt, client_id))
    assert_refused_once(rt, clock, listener, caplog)
    assert "resolves to 127.0.0.1" in rows(rt)[0].last_error


@pytest.mark.parametrize("host", ["127.1", "0x7f.0.0.1", "2130706433", "[::ffff:127.0.0.1]"])
def test_an_internal_address_stored_earlier_is_refused_at_send_time(
    production, clock, listener, caplog, host
):
    """A row registered before the rules (or written around them): never contacted."""
    rt, names = production
    names["sti.cpro.example"] = [PUBLIC]
    client_id = add_module(rt, "https://sti.cpro.example/bc")
    with rt.database.session() as s:
        establishment = establishment_store.by_code(s, SCHOOL)
        client = client_store.by_client_id(s, establishment, client_id)
        client.backchannel_logout_uri = f"https://{host}:{listener.port}/bc"
    sign_out(rt, signed_in(rt, client_id))
    assert_refused_once(rt, clock, listener, caplog)


def test_a_redirect_is_not_followed(rt, school, receivers, clock):
    """Development (loopback allowed): a module answering 302 elsewhere gets a final
    refusal; where it points is never asked."""
    target = receivers()
    redirecting = receivers((302,), location=target.url)
    sso = signed_in(rt, add_module(rt, redirecting.url))
    sign_out(rt, sso)
    assert rt.logout.drain() == 1
    [row] = rows(rt)
    assert row.last_error == "HTTP 302" and row.abandoned_at == clock.now()
    assert len(redirecting.got) == 1 and target.got == []


# -- senders sharing the outbox ------------------------------------------------------------


def test_a_sender_that_died_leaves_its_rows_after_the_lease(rt, school, receivers, clock):
    receiver = receivers()
    sso = signed_in(rt, add_module(rt, receiver.url))
    sign_out(rt, sso)
    lease = clock.now() + timedelta(minutes=3)
    with rt.database.session() as s:  # a sender claims, then its process dies
        [(claimed, _code)] = outbox.claim_due(s, now=clock.now(), until=lease, limit=10)
    assert rt.logout.drain() == 0 and receiver.got == []
    clock.set(lease)
    assert rt.logout.drain() == 0, "still claimed until the lease is over"
    clock.advance(seconds=1)
    assert rt.logout.drain() == 1
    [row] = rows(rt)
    assert row.delivered_at == clock.now() and row.attempts == 2
    assert len(receiver.got) == 1
    # The first sender, back from the dead, records a failure with its old claim: ignored.
    with rt.database.session() as s:
        assert not outbox.reschedule(
            s, claimed.id, claimed_until=lease, at=clock.now(), error="HTTP 503"
        )
        assert not outbox.abandon(s, claimed.id, claimed_until=lease, now=clock.now(), error="x")
    [row] = rows(rt)
    assert row.delivered_at is not None and row.next_attempt_at is None


def queue_many(rt, uri: str, n: int) -> set[str]:  # type: ignore[no-untyped-def]
    client_id = add_module(rt, uri)
    jtis = {secrets.token_hex(16) for _ in range(n)}
    with rt.database.session() as s:
        establishment = establishment_store.by_code(s, SCHOOL)
        client = client_store.by_client_id(s, establishment, client_id)
        for i, jti in enumerate(sorted(jtis)):
            outbox.add(
                s,
                establishment,
                client,
                sub=f"sub-{i}",
                sid=f"sid-{i}",
                jti=jti,
                now=rt.clock.now(),
            )
    return jtis


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_senders_never_deliver_a_row_twice(rt, school, receivers, clock):
    receiver = receivers(delay=0.01)
    jtis = queue_many(rt, receiver.url, 40)
    senders = [
        Sender(
            rt.database,
            clock,
            sign=rt.logout.logout_token,
            issuer=rt.settings.issuer,
            outbound=rt.outbound,
        )
        for _ in range(2)
    ]
    start = threading.Barrier(2)
    claimed = [0, 0]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            start.wait()
            while n := senders[i].deliver_due(limit=3):
                claimed[i] += n
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert claimed[0] > 0 and claimed[1] > 0, "both senders took part"
    received = [decode(rt, t).claims["jti"] for t in receiver.tokens]
    assert sorted(received) == sorted(jtis), "every notice once, none twice"
    assert all(r.delivered_at is not None and r.attempts == 1 for r in rows(rt))


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_sender_skips_rows_another_is_claiming_instead_of_waiting(rt, school, receivers, clock):
    receiver = receivers()
    queue_many(rt, receiver.url, 6)
    # Another instance's claim transaction, caught between its SELECT … FOR UPDATE and its
    # commit: it holds the locks of the first three rows.
    other = Session(rt.database.engine)
    locked = other.scalars(
        select(BackchannelNotice.id).order_by(BackchannelNotice.id).limit(3).with_for_update()
    ).all()
    try:
        done: list[int] = []
        sender = threading.Thread(target=lambda: done.append(rt.logout.drain()), daemon=True)
        sender.start()
        sender.join(timeout=20)
        assert done == [3], "the free rows went out without waiting for the locked ones"
        by_id = {r.id: r for r in rows(rt)}
        assert all(by_id[i].delivered_at is None and by_id[i].attempts == 0 for i in locked)
    finally:
        other.rollback()
        other.close()
    assert rt.logout.drain() == 3
    assert len(receiver.got) == 6 and all(r.delivered_at is not None for r in rows(rt))


# -- the background loop -------------------------------------------------------------------


def test_the_loop_sends_when_woken_and_finds_other_instances_notices(rt, school, receivers, clock):
    receiver = receivers()
    client_id = add_module(rt, receiver.url)
    sender = Sender(
        rt.database,
        clock,
        sign=rt.logout.logout_token,
        issuer=rt.settings.issuer,
        outbound=rt.outbound,
        poll_interval=30,
    )
    rt.logout.sender = sender  # a commit that queued notices wakes this one

    def wait_for(n: int) -> float:
        started = time.monotonic()
        while len(receiver.got) < n:
            assert time.monotonic() - started < 10, "not delivered"
            time.sleep(0.02)
        return time.monotonic() - started

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(sender.run)
            await anyio.sleep(0.3)  # its first pass found nothing; it waits 30 s now
            await anyio.to_thread.run_sync(sign_out, rt, signed_in(rt, client_id))
            assert await anyio.to_thread.run_sync(wait_for, 1) < 5, "woken, not polled"
            tasks.cancel_scope.cancel()

    anyio.run(main)

    # Another instance queued a notice (nobody wakes this one): the poll finds it.
    polling = Sender(
        rt.database,
        clock,
        sign=rt.logout.logout_token,
        issuer=rt.settings.issuer,
        outbound=rt.outbound,
        poll_interval=0.1,
    )

    async def poll() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(polling.run)
            with rt.database.session() as s:
                establishment = establishment_store.by_code(s, SCHOOL)
                client = client_store.by_client_id(s, establishment, client_id)
                outbox.add(
                    s, establishment, client, sub="s", sid="x", jti="j" * 32, now=clock.now()
                )
            await anyio.to_thread.run_sync(wait_for, 2)
            tasks.cancel_scope.cancel()

    anyio.run(poll)


def test_the_app_runs_the_sender(rt, school, receivers, client):
    """The lifespan of the app (the `client` fixture runs it) starts this instance's sender."""
    receiver = receivers()
    sign_out(rt, signed_in(rt, add_module(rt, receiver.url)))
    started = time.monotonic()
    while not receiver.got:
        assert time.monotonic() - started < 10, "the app's sender did not deliver"
        time.sleep(0.02)
    [row] = rows(rt)
    assert row.attempts == 1


# -- purge ---------------------------------------------------------------------------------


def test_purge_removes_finished_notices_a_day_later(rt, school, receivers, clock):
    ok, refused, down = receivers(), receivers((400,)), receivers((503,))
    sign_out(
        rt,
        signed_in(
            rt,
            add_module(rt, ok.url),
            add_module(rt, refused.url, "R"),
            add_module(rt, down.url, "D"),
        ),
    )
    rt.logout.drain()
    clock.advance(days=1, seconds=1)
    assert purge(rt).counts["back-channel notices"] == 2
    [pending] = rows(rt)
    assert pending.uri == down.url and pending.next_attempt_at is not None
    with rt.database.session() as s:
        assert s.scalar(select(func.count()).select_from(BackchannelNotice)) == 1


def test_a_stopping_sender_hands_back_what_it_has_not_tried(rt, school, receivers, clock):
    """SIGTERM during a batch: the notice being sent is finished and recorded, the rest of
    the claimed batch is due again at once for any sender, its attempt not counted."""
    receiver = receivers(delay=0.3)
    queue_many(rt, receiver.url, 4)
    sender = Sender(
        rt.database, clock, sign=rt.logout.logout_token, issuer=rt.settings.issuer,
        outbound=rt.outbound,
    )  # fmt: skip
    claimed: list[int] = []
    worker = threading.Thread(target=lambda: claimed.append(sender.deliver_due(limit=4)))
    worker.start()
    while not receiver.got:  # the first notice is being received
        time.sleep(0.01)
    sender.stop()
    worker.join(timeout=10)
    assert claimed == [4]
    assert len(receiver.got) == 1
    states = sorted((r.delivered_at is not None, r.attempts, r.claimed_until) for r in rows(rt))
    assert states == [(False, 0, None)] * 3 + [(True, 1, None)]
    # Another sender (or this instance started again) takes them at once, not in minutes.
    assert rt.logout.drain() == 3
    assert len(receiver.got) == 4
