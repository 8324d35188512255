"""argon2id password hashing, and the bound on how many hashes run at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import argon2
import pytest

from idp.errors import Unavailable
from idp.security.passwords import PasswordHasher, Verification

CHEAP = {"memory_kib": 256, "time_cost": 1}
CHEAP_PREFIX = "$argon2id$v=19$m=256,t=1,p=1$"


def cheap(**overrides: Any) -> PasswordHasher:
    return PasswordHasher(**{**CHEAP, **overrides})


class Probe:
    """Stands in for the hasher's argon2 object: records every hash and verification, counts
    how many run at once, and can hold them at a gate until the test opens it."""

    def __init__(self, inner: argon2.PasswordHasher, *, hold: bool, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.gate = threading.Event()
        if not hold:
            self.gate.set()
        self.entered = threading.Semaphore(0)  # one release per call that started
        self.calls: list[str] = []
        self.threads: list[int] = []
        self.hashes: list[str] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def _run(self, name: str, work: Callable[[], Any]) -> Any:
        with self._lock:
            self.calls.append(name)
            self.threads.append(threading.get_ident())
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        self.entered.release()
        try:
            if not self.gate.wait(timeout=10):
                raise AssertionError("the test never opened the gate")
            time.sleep(self.delay)
            return work()
        finally:
            with self._lock:
                self.active -= 1

    def hash(self, password: str) -> str:
        result = self._run("hash", lambda: self.inner.hash(password))
        self.hashes.append(result)
        return result

    def verify(self, stored_hash: str, password: str) -> bool:
        return self._run("verify", lambda: self.inner.verify(stored_hash, password))

    def check_needs_rehash(self, stored_hash: str) -> bool:
        return self.inner.check_needs_rehash(stored_hash)

    def wait_entered(self, count: int = 1) -> None:
        for _ in range(count):
            assert self.entered.acquire(timeout=5), "a hash never started"

    async def wait_entered_async(self, count: int = 1) -> None:
        await anyio.to_thread.run_sync(self.wait_entered, count)


def probe(hasher: PasswordHasher, *, hold: bool = False, delay: float = 0.0) -> Probe:
    wrapper = Probe(hasher._argon2, hold=hold, delay=delay)
    hasher._argon2 = wrapper  # type: ignore[assignment]
    return wrapper


@pytest.fixture
def hasher() -> PasswordHasher:
    return cheap()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


# -- hashing and verifying -----------------------------------------------------------------


def test_hash_is_argon2id_with_the_configured_parameters(hasher: PasswordHasher) -> None:
    stored = hasher.hash("Mot de passe")
    assert stored.startswith(CHEAP_PREFIX)
    assert "Mot de passe" not in stored
    assert cheap(time_cost=3, parallelism=2).hash("x").startswith("$argon2id$v=19$m=256,t=3,p=2$")


def test_default_parameters_are_owasp_argon2id() -> None:
    assert PasswordHasher().hash("x").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_hashes_are_salted(hasher: PasswordHasher) -> None:
    first, second = hasher.hash("même mot de passe"), hasher.hash("même mot de passe")
    assert first != second
    assert hasher.verify(first, "même mot de passe").ok
    assert hasher.verify(second, "même mot de passe").ok


@pytest.mark.parametrize(
    "password", ["14071789", "correct horse battery staple", "Été 2024 à Brest ☀️", " espace "]
)
def test_verify_accepts_the_password_and_nothing_else(
    hasher: PasswordHasher, password: str
) -> None:
    stored = hasher.hash(password)
    assert hasher.verify(stored, password) == Verification(ok=True, needs_rehash=False)
    for wrong in ("", password.upper(), password.strip(), password + " ", password[:-1]):
        if wrong != password:
            assert hasher.verify(stored, wrong) == Verification(ok=False)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$2b$12$abcdefghijklmnopqrstuu5xY3iVx7Yq6YkzO7s2Y8m1C3wDZ1sSa",  # bcrypt
        "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$",
        "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
    ],
)
def test_a_broken_stored_hash_is_a_failed_verification_not_a_crash(
    hasher: PasswordHasher, stored: str
) -> None:
    assert hasher.verify(stored, "x") == Verification(ok=False)


@pytest.mark.parametrize(
    "changed", [{"memory_kib": 512}, {"time_cost": 2}, {"parallelism": 2}], ids=str
)
def test_a_hash_made_with_other_parameters_verifies_and_needs_a_rehash(
    hasher: PasswordHasher, changed: dict[str, int]
) -> None:
    old_hash = hasher.hash("ancien")
    new_hasher = cheap(**changed)
    assert new_hasher.verify(old_hash, "ancien") == Verification(ok=True, needs_rehash=True)
    # a wrong password says nothing about rehashing
    assert new_hasher.verify(old_hash, "autre") == Verification(ok=False, needs_rehash=False)
    # once rehashed, it no longer needs it
    new_hash = new_hasher.hash("ancien")
    assert new_hasher.verify(new_hash, "ancien") == Verification(ok=True, needs_rehash=False)
    # and the old parameters would now see the new hash as the one to replace
    assert hasher.verify(new_hash, "ancien") == Verification(ok=True, needs_rehash=True)


def test_an_argon2i_hash_verifies_and_needs_a_rehash_to_argon2id(hasher: PasswordHasher) -> None:
    legacy = argon2.PasswordHasher(memory_cost=256, time_cost=1, type=argon2.Type.I)
    old_hash = legacy.hash("ancien")
    assert hasher.verify(old_hash, "ancien") == Verification(ok=True, needs_rehash=True)


def test_the_async_api_hashes_and_verifies(hasher: PasswordHasher) -> None:
    async def main() -> None:
        stored = await hasher.hash_async("asynchrone")
        assert stored.startswith(CHEAP_PREFIX)
        assert await hasher.verify_async(stored, "asynchrone") == Verification(ok=True)
        assert await hasher.verify_async(stored, "autre") == Verification(ok=False)
        old = cheap(time_cost=2).hash("asynchrone")
        assert await hasher.verify_async(old, "asynchrone") == Verification(True, True)
        assert hasher.verify(stored, "asynchrone").ok  # sync and async agree

    anyio.run(main)


def test_async_hashes_run_on_as_many_threads_as_the_bound() -> None:
    # The allocator keeps a freed hash's memory in its thread's arena: hashes spread over
    # every worker thread would keep that much per thread.
    hasher = cheap(concurrency=2)
    threads: set[str] = set()
    verify = hasher._verify

    def recording(stored: str, password: str) -> Verification:
        threads.add(threading.current_thread().name)
        time.sleep(0.01)  # long enough for the requests to overlap
        return verify(stored, password)

    hasher._verify = recording  # type: ignore[method-assign]
    stored = hasher.hash("tempête")

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            for _ in range(12):
                tasks.start_soon(hasher.verify_async, stored, "tempête")

    anyio.run(main)
    hasher.close()
    # Its own threads, not the server's shared worker threads (which run everything else).
    assert 1 <= len(threads) <= 2
    assert all(name.startswith("argon2") for name in threads), threads


# -- burn ----------------------------------------------------------------------------------


def test_burn_spends_one_verification_with_the_same_parameters(hasher: PasswordHasher) -> None:
    seen = probe(hasher)
    assert hasher.burn("14071789") is None  # type: ignore[func-returns-value]
    # the first burn makes its dummy hash, every burn verifies against it
    assert seen.calls == ["hash", "verify"]
    assert seen.hashes[0].startswith(CHEAP_PREFIX)
    hasher.burn("autre chose")
    assert seen.calls == ["hash", "verify", "verify"]

    async def main() -> None:
        assert await hasher.burn_async("14071789") is None  # type: ignore[func-returns-value]

    anyio.run(main)
    assert seen.calls == ["hash", "verify", "verify", "verify"]


def test_burn_async_never_hashes_on_the_event_loop(hasher: PasswordHasher) -> None:
    # The first burn makes the dummy hash: that must happen in a worker thread too.
    seen = probe(hasher)
    loop_threads: list[int] = []

    async def main() -> None:
        loop_threads.append(threading.get_ident())
        await hasher.burn_async("x")
        await hasher.burn_async("y")

    anyio.run(main)
    assert seen.calls == ["hash", "verify", "verify"]
    assert loop_threads[0] not in seen.threads


# -- the bound, sync path ------------------------------------------------------------------


def test_sync_a_second_hash_gets_unavailable_when_the_only_slot_stays_busy(
    pool: ThreadPoolExecutor,
) -> None:
    hasher = cheap(concurrency=1, queue_timeout=0.05)
    stored = cheap().hash("pw")
    seen = probe(hasher, hold=True)
    first = pool.submit(hasher.hash, "premier")
    try:
        seen.wait_entered()
        for call in (
            lambda: hasher.hash("second"),
            lambda: hasher.verify(stored, "pw"),
            lambda: hasher.burn("pw"),
        ):
            started = time.monotonic()
            with pytest.raises(Unavailable) as caught:
                call()
            # it waited for a slot for queue_timeout, then gave up
            assert time.monotonic() - started >= 0.04
            assert caught.value.status_code == 503
            assert "réessayer" in caught.value.message
        # none of them reached argon2 (not even burn's dummy hash)
        assert seen.calls == ["hash"]
    finally:
        seen.gate.set()
    assert hasher.verify(first.result(timeout=5), "premier").ok
    assert seen.max_active == 1


def test_sync_failed_waits_neither_leak_nor_add_slots(pool: ThreadPoolExecutor) -> None:
    hasher = cheap(concurrency=1, queue_timeout=0.05)
    for _round in range(2):
        seen = probe(hasher, hold=True)
        first = pool.submit(hasher.hash, "premier")
        try:
            seen.wait_entered()
            with pytest.raises(Unavailable):
                hasher.hash("second")
        finally:
            seen.gate.set()
        first.result(timeout=5)
        hasher._argon2 = seen.inner  # type: ignore[assignment]
    assert hasher.hash("libre").startswith(CHEAP_PREFIX)


def test_sync_callers_queue_for_a_slot_within_queue_timeout(pool: ThreadPoolExecutor) -> None:
    hasher = cheap(concurrency=1, queue_timeout=10)
    seen = probe(hasher, hold=True)
    first = pool.submit(hasher.hash, "premier")
    try:
        seen.wait_entered()
        second = pool.submit(hasher.hash, "second")
        # the second waits outside argon2 while the first holds the slot
        assert not seen.entered.acquire(timeout=0.2)
        assert not second.done()
    finally:
        seen.gate.set()
    assert hasher.verify(first.result(timeout=5), "premier").ok
    assert hasher.verify(second.result(timeout=5), "second").ok
    assert seen.max_active == 1


def test_sync_concurrency_2_runs_two_at_once_and_refuses_a_third(
    pool: ThreadPoolExecutor,
) -> None:
    hasher = cheap(concurrency=2, queue_timeout=0.05)
    seen = probe(hasher, hold=True)
    running = [pool.submit(hasher.hash, "un"), pool.submit(hasher.hash, "deux")]
    try:
        seen.wait_entered(2)
        assert seen.active == 2
        with pytest.raises(Unavailable):
            hasher.hash("trois")
    finally:
        seen.gate.set()
    for future in running:
        assert future.result(timeout=5).startswith(CHEAP_PREFIX)
    assert seen.max_active == 2


def test_sync_with_a_zero_queue_timeout_a_free_slot_is_still_taken() -> None:
    hasher = cheap(concurrency=1, queue_timeout=0)
    assert hasher.verify(hasher.hash("pw"), "pw").ok


# -- the bound, async path -----------------------------------------------------------------


def test_async_never_more_than_concurrency_hashes_at_once() -> None:
    hasher = cheap(concurrency=2, queue_timeout=30)
    stored = cheap().hash("pw")
    seen = probe(hasher, delay=0.05)
    results: list[Verification] = []

    async def verify(password: str) -> None:
        results.append(await hasher.verify_async(stored, password))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(verify, "pw" if n % 2 else "faux")
            tg.start_soon(hasher.hash_async, "nouveau")
            tg.start_soon(hasher.burn_async, "pw")

    anyio.run(main)
    assert sorted(r.ok for r in results) == [False] * 4 + [True] * 4
    assert len(seen.calls) == 8 + 1 + 2  # burn: dummy hash + verification
    assert seen.max_active == 2


def test_async_a_second_call_gets_unavailable_when_the_only_slot_stays_busy() -> None:
    hasher = cheap(concurrency=1, queue_timeout=0.05)
    stored = cheap().hash("pw")
    seen = probe(hasher, hold=True)
    first: list[Verification] = []

    async def hold() -> None:
        first.append(await hasher.verify_async(stored, "pw"))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(hold)
            try:
                await seen.wait_entered_async()
                for call in (
                    lambda: hasher.verify_async(stored, "pw"),
                    lambda: hasher.hash_async("second"),
                    lambda: hasher.burn_async("pw"),
                ):
                    started = time.monotonic()
                    with pytest.raises(Unavailable) as caught:
                        await call()
                    assert time.monotonic() - started >= 0.04
                    assert caught.value.status_code == 503
                assert seen.calls == ["verify"]
            finally:
                seen.gate.set()

        assert first == [Verification(ok=True)]
        # the slot is free again, and there is still only one
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(hasher.verify_async, stored, "pw")

    anyio.run(main)
    assert seen.max_active == 1


def test_async_callers_queue_for_a_slot_within_queue_timeout() -> None:
    hasher = cheap(concurrency=1, queue_timeout=10)
    stored = cheap().hash("pw")
    seen = probe(hasher, hold=True)
    results: list[Verification] = []

    async def verify() -> None:
        results.append(await hasher.verify_async(stored, "pw"))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(verify)
            try:
                await seen.wait_entered_async()
                tg.start_soon(verify)
                await anyio.sleep(0.2)
                # the second waits on the event loop, outside argon2
                assert seen.calls == ["verify"]
            finally:
                seen.gate.set()

    anyio.run(main)
    assert results == [Verification(ok=True)] * 2
    assert seen.max_active == 1


def test_async_a_caller_cancelled_in_the_queue_does_not_keep_a_slot() -> None:
    hasher = cheap(concurrency=1, queue_timeout=10)
    stored = cheap().hash("pw")
    seen = probe(hasher, hold=True)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(hasher.verify_async, stored, "pw")
            try:
                await seen.wait_entered_async()
                with anyio.move_on_after(0.05) as scope:  # e.g. the client went away
                    await hasher.verify_async(stored, "pw")
                assert scope.cancelled_caught
            finally:
                seen.gate.set()
        assert (await hasher.verify_async(stored, "pw")).ok

        # still exactly one slot: hold it again, and a newcomer does not get in
        hasher._argon2 = seen.inner  # type: ignore[assignment]
        again = probe(hasher, hold=True)
        async with anyio.create_task_group() as tg:
            tg.start_soon(hasher.verify_async, stored, "pw")
            try:
                await again.wait_entered_async()
                with anyio.move_on_after(0.2):
                    await hasher.verify_async(stored, "pw")
                assert again.calls == ["verify"]
            finally:
                again.gate.set()
        assert again.max_active == 1

    anyio.run(main)
    assert seen.max_active == 1


def test_async_with_a_zero_queue_timeout_a_free_slot_is_still_taken() -> None:
    hasher = cheap(concurrency=1, queue_timeout=0)

    async def main() -> None:
        stored = await hasher.hash_async("pw")
        assert (await hasher.verify_async(stored, "pw")).ok
        await hasher.burn_async("pw")

    anyio.run(main)


def test_the_hasher_works_from_one_event_loop_to_the_next(hasher: PasswordHasher) -> None:
    # A test client (or a worker restart) may run the same hasher under successive loops.
    stored = hasher.hash("pw")
    for _ in range(3):
        assert anyio.run(hasher.verify_async, stored, "pw").ok
