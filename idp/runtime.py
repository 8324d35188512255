"""The objects one process shares, built from Settings: what the app and the CLI both need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from idp.caches import Caches
from idp.clock import Clock, SystemClock
from idp.db import Database
from idp.directory import Directory
from idp.mail import CountedMailer, Mailer, MessageRenderer, make_mailer
from idp.metrics import Metrics
from idp.oauth.keys import KeyPolicy, KeyRing
from idp.oauth.logout import Logout
from idp.oauth.redirect_uris import is_loopback_host
from idp.security.outbound import Outbound, Resolver
from idp.security.passwords import PasswordHasher
from idp.settings import Settings
from idp.templating import Templates
from idp.urls import Urls

T = TypeVar("T")


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    database: Database
    hasher: PasswordHasher
    templates: Templates
    mailer: Mailer
    messages: MessageRenderer
    keys: KeyRing
    logout: Logout
    # Establishments as requests see them.
    directory: Directory
    # Paths and public URLs, from the route table's names.
    urls: Urls
    caches: Caches
    # What the provider may call itself (back-channel logout, jwks_uri), and how.
    outbound: Outbound
    # What it counts, for /metrics.
    metrics: Metrics

    def run(self, use_case: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a use case `use_case(rt, session, …)` in a unit of work of its own, committed
        if it returns and rolled back if it raises: for commands, background work and tests
        (a request has its unit of work from the web layer)."""
        with self.database.session() as session:
            return use_case(self, session, *args, **kwargs)

    def close(self) -> None:
        self.logout.close()
        self.hasher.close()
        self.database.dispose()


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    resolver: Resolver | None = None,
    server: bool = False,
) -> Runtime:
    """`resolver` replaces getaddrinfo for outbound requests: a seam for tests, which need a
    name to resolve to an address no name on the test machine resolves to.

    `server`: for the web server, whose requests wait for PostgreSQL no longer than
    IDP_DATABASE_TIMEOUT; commands (a migration, an import) take the time they need."""
    clock = clock or SystemClock()
    templates = Templates()
    metrics = Metrics(per_establishment=settings.metrics_establishments)
    database = Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        timeout=settings.database_timeout if server else None,
        busy_timeout=settings.database_busy_timeout,
        metrics=metrics,
        threads=settings.database_threads if server else None,
    )
    # An old key stays published while any token it signed may live (plus clock skew).
    longest = max(settings.access_token_lifetime, settings.id_token_lifetime)
    caches = Caches(settings.cache_seconds)
    keys = KeyRing(
        settings.secret_key,
        clock,
        caches,
        KeyPolicy(longest_token=longest + timedelta(minutes=5)),
    )
    # A loopback IDP_BASE_URL is development, where modules run on loopback too.
    outbound = Outbound(
        allow_loopback=is_loopback_host(urlsplit(settings.base_url).hostname), resolver=resolver
    )
    return Runtime(
        settings=settings,
        clock=clock,
        database=database,
        hasher=PasswordHasher(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            concurrency=settings.hash_concurrency,
            queue_timeout=settings.hash_queue_timeout,
            metrics=metrics,
        ),
        templates=templates,
        mailer=CountedMailer(mailer or make_mailer(settings), metrics),
        messages=MessageRenderer(templates, settings.mail_from, clock),
        keys=keys,
        logout=Logout(
            settings, keys, database=database, clock=clock, outbound=outbound, metrics=metrics
        ),
        directory=Directory(caches),
        urls=Urls(settings.base_url),
        caches=caches,
        outbound=outbound,
        metrics=metrics,
    )
