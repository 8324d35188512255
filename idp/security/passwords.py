"""argon2id password hashing with a bound on how many hashes run at once.

Each hash takes ~19 MiB and tens of milliseconds of CPU; a storm of logins must queue for a
slot (or get a clear 503 after `queue_timeout`) rather than exhaust memory. The async methods
are for request handlers: they wait for a slot on the event loop and hash in a worker thread.
The sync methods are for the CLI and code already running in a worker thread.

The async path hashes in threads of its own, as many as the bound: the C allocator keeps a
freed 19 MiB block in the arena of the thread that used it, so hashes spread over every
worker thread of the server would keep that much per thread (measured: 200 sign-ins at
once raised resident memory by 230 MB with two hashes at a time).
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import anyio
import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idp.errors import Unavailable
from idp.metrics import Metrics

R = TypeVar("R")


@dataclass(frozen=True)
class Verification:
    ok: bool
    needs_rehash: bool = False


class PasswordHasher:
    def __init__(
        self,
        *,
        memory_kib: int = 19456,
        time_cost: int = 2,
        parallelism: int = 1,
        concurrency: int = 1,
        queue_timeout: float = 10.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._argon2 = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        self.concurrency = concurrency
        self._queue_timeout = queue_timeout
        self._thread_slots = threading.BoundedSemaphore(concurrency)
        self._async_slots: anyio.Semaphore | None = None
        self._threads = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")

    def close(self) -> None:
        self._threads.shutdown(wait=False)

    # -- sync ---------------------------------------------------------------------------

    def hash(self, password: str) -> str:
        with self._slot():
            return self._argon2.hash(password)

    def hash_many(self, passwords: Sequence[str]) -> list[str]:
        """Hashes side by side in the hashing threads, within the bound (the new accounts
        of an import, a class's reset): a thousand take seconds rather than a minute on
        several cores. Handed to the threads a round at a time, so that sign-ins queued
        meanwhile wait for one round, not for the whole batch. Not from a hashing thread."""
        hashes: list[str] = []
        for start in range(0, len(passwords), self.concurrency):
            hashes += self._threads.map(self.hash, passwords[start : start + self.concurrency])
        return hashes

    def verify(self, stored_hash: str, password: str) -> Verification:
        with self._slot():
            return self._verify(stored_hash, password)

    def burn(self, password: str) -> None:
        """Spend the time of a verification, so that an account with no hash (on its
        initial password) cannot be told apart from one with a hash by timing."""
        with self._slot():
            self._burn(password)

    # -- async --------------------------------------------------------------------------

    # Requests wait for an async slot on the event loop (holding no thread), then the worker
    # takes a thread slot too, so that sync and async callers together stay within the bound.

    async def hash_async(self, password: str) -> str:
        async with self._async_slot():
            return await self._in_thread(self.hash, password)

    async def verify_async(self, stored_hash: str, password: str) -> Verification:
        async with self._async_slot():
            return await self._in_thread(self.verify, stored_hash, password)

    async def burn_async(self, password: str) -> None:
        async with self._async_slot():
            await self._in_thread(self.burn, password)

    async def _in_thread(self, call: Callable[..., R], *args: str) -> R:
        # If the request is cancelled meanwhile, the hash finishes and is dropped: it
        # touches no shared state.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, functools.partial(call, *args))

    # -- internals ----------------------------------------------------------------------

    def _verify(self, stored_hash: str, password: str) -> Verification:
        try:
            self._argon2.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verification(ok=False)
        return Verification(ok=True, needs_rehash=self._argon2.check_needs_rehash(stored_hash))

    def _burn(self, password: str) -> None:
        # The dummy hash is made on first use: inside the caller's slot, and in a worker
        # thread on the async path, never on the event loop nor outside the bound.
        self._verify(self._dummy_hash, password)

    @cached_property
    def _dummy_hash(self) -> str:
        return self._argon2.hash(secrets.token_urlsafe(16))

    def _slot(self) -> _ThreadSlot:
        return _ThreadSlot(self._thread_slots, self._queue_timeout)

    def _async_slot(self) -> _AsyncSlot:
        if self._async_slots is None:
            self._async_slots = anyio.Semaphore(self.concurrency)
        return _AsyncSlot(self._async_slots, self._queue_timeout, self._metrics)


def _busy() -> Unavailable:
    return Unavailable(
        "Le service est très sollicité. Veuillez réessayer dans quelques instants.",
        detail="no password-hashing slot became free in time",
    )


class _ThreadSlot:
    def __init__(self, semaphore: threading.BoundedSemaphore, timeout: float) -> None:
        self._semaphore, self._timeout = semaphore, timeout

    def __enter__(self) -> None:
        if not self._semaphore.acquire(timeout=self._timeout):
            raise _busy()

    def __exit__(self, *exc: object) -> None:
        self._semaphore.release()


class _AsyncSlot:
    """A request's wait for a slot: counted (/metrics) as the queue's length while it
    waits, how long it waited, and whether it gave up."""

    def __init__(self, semaphore: anyio.Semaphore, timeout: float, metrics: Metrics | None) -> None:
        self._semaphore, self._timeout, self._metrics = semaphore, timeout, metrics

    async def __aenter__(self) -> None:
        try:
            # A free slot is taken at once, even with a zero timeout (as on the sync path).
            self._semaphore.acquire_nowait()
        except anyio.WouldBlock:
            pass
        else:
            if self._metrics is not None:
                self._metrics.hash_wait.observe(0)
            return
        metrics = self._metrics
        started = time.monotonic()
        if metrics is not None:
            metrics.hash_queue.inc()
        try:
            with anyio.move_on_after(self._timeout):
                await self._semaphore.acquire()
                return
        finally:
            if metrics is not None:
                metrics.hash_queue.dec()
                metrics.hash_wait.observe(time.monotonic() - started)
        if metrics is not None:
            metrics.hash_refused.inc()
        raise _busy()

    async def __aexit__(self, *exc: object) -> None:
        self._semaphore.release()
