"""Sending back-channel logout tokens from the outbox (OpenID Connect Back-Channel Logout
1.0, §2.5 "Back-Channel Logout Request" and §2.8 "Back-Channel Logout Response").

idp.oauth.logout queues one row per module in the transaction that ends a session; any
instance's Sender delivers it. A claim (a short transaction) takes due rows under a lease;
the POSTs run outside any transaction; each outcome is recorded in a short transaction of
its own. A sender that dies mid-delivery leaves its rows to another once the lease is over,
so a module may get a notice twice: every attempt carries the row's `jti`, on which §2.6
lets receivers drop duplicates, in a freshly signed token (its `iat`/`exp` are new).

A 2xx answer delivers the notice; any other answer but 429 or 5xx is final (§2.8: 400 means
the module refused it, and a retry would not change that); a timeout, a connection error,
429 or 5xx is tried again after 1 s, 5 s, 30 s, 2 min and 10 min, then given up.

Requests go through idp.security.outbound: an address that is not public (a name that
resolves to one today, whatever it resolved to at registration) is refused without being
contacted, a final outcome; a redirect is an answer like any other 3xx (final), never
followed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

import anyio
import httpx

from idp.clock import Clock
from idp.db import Database, unavailable
from idp.metrics import Metrics
from idp.security.outbound import Outbound, Refused
from idp.store import outbox

log = logging.getLogger(__name__)

RETRY_DELAYS = (
    timedelta(seconds=1),
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
)
# A claim lasts long enough for every row of the batch to time out in connect, write and
# read, plus this; a batch still going past its lease stops, leaving the rest to others.
LEASE_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True)
class Notice:
    """What one module is told: the `sub` and `sid` of the session that ended. `jti` is the
    outbox row's, fixed when it was queued (None: a token made on its own, in tests)."""

    establishment_id: int
    issuer: str
    client_id: str
    alg: str
    uri: str
    sub: str
    sid: str
    jti: str | None = None


class Outcome(Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"  # final
    FAILED = "failed"  # worth another attempt


# How /metrics counts an attempt's outcome (a failure with no retry left is abandoned).
_COUNTED = {Outcome.DELIVERED: "delivered", Outcome.REFUSED: "refused"}


@dataclass(frozen=True)
class _Claimed:
    id: int
    attempts: int  # this one included
    notice: Notice


class Sender:
    """Delivers due outbox rows: `deliver_due` once, `drain` until none is due, `run` as the
    server's background task. `sign(notice, now)` makes the logout token."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        sign: Callable[[Notice, datetime], str],
        issuer: Callable[[str], str],
        outbound: Outbound,
        timeout: float = 5.0,
        poll_interval: float = 1.0,
        batch: int = 10,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._database = database
        self._clock = clock
        self._sign = sign
        self._issuer = issuer
        self._outbound = outbound
        self._timeout = timeout
        self._poll_interval = poll_interval
        self._batch = batch
        # Set from any thread (a request's, after its commit) to end the loop's wait.
        self._wake = threading.Event()
        self._closed = False
        # Set when the server stops: what is claimed and not yet tried goes back.
        self._stopping = False
        self._database_away = False

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    def stop(self) -> None:
        """The server is stopping (SIGTERM): the attempt under way finishes, the notices
        claimed but not tried are handed back to the outbox for another instance (or this
        one's next start) at once, rather than at the end of their lease."""
        self._stopping = True
        self._wake.set()

    # -- one pass --------------------------------------------------------------------------

    def deliver_due(self, limit: int = 10) -> int:
        """Claim up to `limit` due notices and try each once; returns how many were claimed.
        Blocking (HTTP and database): call from a worker thread."""
        now = self._clock.now()
        until = now + 3 * timedelta(seconds=self._timeout) * limit + LEASE_MARGIN
        with self._database.session() as session:
            claimed = [
                _Claimed(
                    row.id,
                    row.attempts,
                    Notice(
                        row.establishment_id,
                        self._issuer(code),
                        row.client_id,
                        row.alg,
                        row.uri,
                        row.sub,
                        row.sid,
                        row.jti,
                    ),
                )
                for row, code in outbox.claim_due(session, now=now, until=until, limit=limit)
            ]
        if not claimed:
            return 0
        attempted = 0
        with self._outbound.client(self._timeout) as http:
            for item in claimed:
                if self._clock.now() >= until:
                    break  # the rest is no longer ours: another sender may have it
                if self._closed or self._stopping:
                    with self._database.session() as session:
                        ids = [rest.id for rest in claimed[attempted:]]
                        outbox.release(session, ids, claimed_until=until)
                    break
                attempted += 1
                try:
                    outcome, error = self._attempt(http, item.notice)
                except Exception as exc:  # one bad row must not stop the others
                    log.exception("back-channel logout to %s failed", item.notice.client_id)
                    outcome, error = Outcome.FAILED, type(exc).__name__
                self._record(item, outcome, error, until)
        return len(claimed)

    def drain(self) -> int:
        """Deliver until nothing is due now (tests; the loop). Returns the attempts made."""
        attempts = 0
        while not (self._closed or self._stopping) and (n := self.deliver_due(self._batch)):
            attempts += n
        return attempts

    def _attempt(self, http: httpx.Client, notice: Notice) -> tuple[Outcome, str]:
        # A fresh token each time (a retry ten minutes on must not carry an expired one),
        # with the row's jti.
        try:
            self._outbound.check_url(notice.uri, resolve=False)
        except Refused as exc:
            return Outcome.REFUSED, f"address refused: {exc.reason}"
        token = self._sign(notice, self._clock.now())
        try:
            # Streamed and never read: a module's answer body is of no use to us. The whole
            # attempt ends within the timeout, however slowly the receiver answers, so that
            # it ends within the lease.
            with (
                self._outbound.within(self._timeout),
                http.stream(
                    "POST",
                    notice.uri,
                    data={"logout_token": token},
                    headers={"Cache-Control": "no-store"},
                ) as response,
            ):
                status = response.status_code
        except Refused as exc:  # the transport's check, on what the name resolves to now
            return Outcome.REFUSED, f"address refused: {exc.reason}"
        except httpx.InvalidURL:
            return Outcome.REFUSED, "invalid URL"
        except httpx.HTTPError as exc:
            # The exception's name only: its text may quote the request.
            return Outcome.FAILED, type(exc).__name__
        if 200 <= status < 300:
            return Outcome.DELIVERED, ""
        if status == 429 or status >= 500:
            return Outcome.FAILED, f"HTTP {status}"
        return Outcome.REFUSED, f"HTTP {status}"

    def _record(self, item: _Claimed, outcome: Outcome, error: str, until: datetime) -> None:
        now = self._clock.now()
        notice = item.notice
        counted = _COUNTED.get(outcome, "abandoned")
        with self._database.session() as session:
            if outcome is Outcome.DELIVERED:
                outbox.delivered(session, item.id, now)
            elif outcome is Outcome.FAILED and item.attempts <= len(RETRY_DELAYS):
                delay = RETRY_DELAYS[item.attempts - 1]
                counted = "retried"
                if outbox.reschedule(
                    session, item.id, claimed_until=until, at=now + delay, error=error
                ):
                    log.info(
                        "back-channel logout to %s (%s): %s, attempt %d; next in %d s",
                        notice.client_id,
                        notice.uri,
                        error,
                        item.attempts,
                        delay.total_seconds(),
                    )
            elif outbox.abandon(session, item.id, claimed_until=until, now=now, error=error):
                log.warning(
                    "back-channel logout to %s (%s) %s after %d attempt(s): %s (jti %s)",
                    notice.client_id,
                    notice.uri,
                    "refused" if outcome is Outcome.REFUSED else "abandoned",
                    item.attempts,
                    error,
                    notice.jti,
                )
        if self._metrics is not None:
            self._metrics.backchannel.labels(counted).inc()

    # -- the server's background task ----------------------------------------------------

    async def run(self) -> None:
        """Deliver what is due, wait to be woken (`wake`) or for the poll interval, again;
        until cancelled. The poll finds what other instances queued, and retries."""
        # Our own worker thread: a slow module never takes one of the requests' threads.
        limiter = anyio.CapacityLimiter(1)
        self._stopping = False  # a new start (tests start and stop one runtime's app often)
        while not (self._closed or self._stopping):
            # Cleared before the pass: a wake during it is not lost, the next wait returns.
            self._wake.clear()
            try:
                await anyio.to_thread.run_sync(self.drain, limiter=limiter)
            except Exception as exc:  # the database may be away a moment: the next pass retries
                if not unavailable(exc):
                    log.exception("back-channel logout delivery failed")
                elif not self._database_away:  # one line per outage, not one a second
                    log.warning("back-channel logout: database unavailable, retrying")
                self._database_away = unavailable(exc)
            else:
                self._database_away = False
            await anyio.to_thread.run_sync(
                self._wake.wait, self._poll_interval, limiter=limiter, abandon_on_cancel=True
            )
