"""What the provider counts, for Prometheus (`/metrics`, idp.web.health).

One `Metrics` per runtime, in a registry of its own (no global). Each kind of event is
counted in one place: requests in the request path (idp.web.request_context), audited
events in the audit recorder when their transaction commits (idp.store.audit: sign-ins,
refresh-token reuse, throttled attempts…), and what is not audited through the methods
below, called by the code that owns it (tokens by the token generator, mails by the
mailer, back-channel notices by their sender, the hash queue by the hasher, connections by
the pool).

Label values are bounded: route templates, never paths; a fixed set of methods; event
types and grant types from our own enumerations; the establishment only on the sign-in
counter, and only while IDP_METRICS_ESTABLISHMENTS is on (a network of thousands of
establishments turns it off).

With several worker processes (`idp serve --workers N`), prometheus-client's multiprocess
mode: each process writes its values to files in PROMETHEUS_MULTIPROC_DIR, which `idp
serve` sets to a fresh directory before starting them, and a scrape of any worker adds up
every process's.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SIGN_INS = {
    "login.success": "success",
    "login.failure": "failure",
    "login.throttled": "throttled",
    "login.password_change_required": "password_change_required",
}
# Seconds: a page or an API call (ms), a sign-in (an argon2id hash), a slow database.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, *, per_establishment: bool = True) -> None:
        self.per_establishment = per_establishment
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_DIR) or None
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "idp_http_requests", "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "idp_http_request_duration_seconds", "Time to answer a request, by route template.",
            ["route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.sign_ins = Counter(
            "idp_sign_ins", "Sign-in attempts by result (and establishment, unless turned off).",
            ["result", "establishment"], registry=r,
        )  # fmt: skip
        self.audit_events = Counter(
            "idp_audit_events", "Audited events committed, by type.", ["type"], registry=r
        )
        self.refresh_reuse = Counter(
            "idp_refresh_token_reuse",
            "Rotated refresh tokens presented again: their whole family was revoked.",
            registry=r,
        )
        self.throttled = Counter(
            "idp_throttled", "Attempts refused by throttling, by scope.", ["scope"], registry=r
        )
        self.tokens = Counter(
            "idp_tokens_issued", "Access tokens issued, by grant type.", ["grant_type"],
            registry=r,
        )  # fmt: skip
        self.hash_queue = Gauge(
            "idp_password_hash_queue", "Requests waiting for a password-hashing slot.",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.hash_wait = Histogram(
            "idp_password_hash_wait_seconds", "Time a request waited for a password-hashing slot.",
            buckets=WAIT_BUCKETS, registry=r,
        )  # fmt: skip
        self.hash_refused = Counter(
            "idp_password_hash_refused",
            "Requests answered « réessayez » because no hashing slot became free in time.",
            registry=r,
        )
        self.mails = Counter(
            "idp_mails", "Emails handed to the mail backend, by result (sent, failed).",
            ["result"], registry=r,
        )  # fmt: skip
        self.backchannel = Counter(
            "idp_backchannel_notices",
            "Back-channel logout notices by outcome (delivered, retried, abandoned, refused).",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.connections = Gauge(
            "idp_db_connections_in_use", "Database connections checked out, by pool.",
            ["pool"], registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        # The labelled children of every request's two metrics, kept: `labels()` checks and
        # joins its values under a lock each time, a tenth of a cheap request's work. The
        # keys are bounded as the labels are (route templates, methods, statuses).
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    # -- events that are not audited ----------------------------------------------------

    def request(self, route: str | None, method: str, status: int, seconds: float) -> None:
        key = (route or "unmatched", method if method in METHODS else "other", status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(*key),
                self.latency.labels(key[0]),
            )
        children[0].inc()
        children[1].observe(seconds)

    def audited(
        self, event_type: str, establishment: str | None, details: dict[str, Any] | None
    ) -> None:
        """An audited event, once its transaction committed (idp.store.audit)."""
        self.audit_events.labels(event_type).inc()
        result = SIGN_INS.get(event_type)
        if result is not None:
            where = establishment if self.per_establishment and establishment else "all"
            self.sign_ins.labels(result, where).inc()
        if event_type == "login.throttled":
            self.throttle(str((details or {}).get("scope", "")))
        elif event_type == "token.refresh_reused":
            self.refresh_reuse.inc()

    def throttle(self, scope: str) -> None:
        """An attempt refused by a throttle: `account:…`, `ip:…`, `forgot-ip:…`; counted by
        the kind before the colon (never the account or the address)."""
        self.throttled.labels(scope.split(":", 1)[0] or "unknown").inc()

    def exposition(self) -> bytes:
        """The text format: this process's registry, or every worker's in multiprocess mode."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry)
