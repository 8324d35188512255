"""Settings: read once from the environment (and an optional `.env`) into a frozen object.

`create_app` and the CLI receive a Settings; nothing reads the environment anywhere else.
A bad value raises ConfigurationError with one line naming the variable.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from starlette.config import Config

from idp.errors import ConfigurationError

MailBackend = Literal["console", "file", "smtp"]
SmtpSecurity = Literal["none", "starttls", "tls"]
T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_SMTP_DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
_MIN_SECRET_LENGTH = 32


def usable_cpus() -> int:
    """The CPUs this process may run on (taskset, a container's cpuset), not the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./idp.db"
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = field(default="", repr=False)
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    # How many password hashes may run at once; more requests queue for a slot.
    hash_concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    # Worker threads that may begin database work at once (idp.db.in_thread): enough to
    # overlap PostgreSQL's round trips, few enough that they queue rather than take turns
    # on the interpreter.
    database_threads: int = field(default_factory=lambda: 4 * usable_cpus())
    # How long a request may wait for a slot before it gets a 503.
    hash_queue_timeout: float = 10.0
    mail_backend: MailBackend = "console"
    mail_dir: Path = Path("./mail")
    mail_from: str = "CPRO Connect <no-reply@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_security: SmtpSecurity = "none"
    smtp_timeout: float = 10.0
    log_level: str = "INFO"
    # "text" (readable) or "json" (one object a line, for a log collector).
    log_format: str = "text"
    session_idle: timedelta = timedelta(hours=2)
    session_absolute: timedelta = timedelta(hours=12)
    password_min_length: int = 8
    password_min_score: int = 3
    temporary_password_lifetime: timedelta = timedelta(hours=24)
    access_token_lifetime: timedelta = timedelta(minutes=10)
    id_token_lifetime: timedelta = timedelta(minutes=10)
    refresh_token_lifetime: timedelta = timedelta(days=30)
    # PostgreSQL connections each process keeps (and may open as many again in a burst).
    database_pool_size: int = 20
    # PostgreSQL, for the server's requests: the longest a statement may run or wait for a
    # lock, a silent connection be waited for, or a pooled connection be waited for; then 503.
    database_timeout: float = 5.0
    # SQLite: how long a writer waits for the write lock before a 503.
    database_busy_timeout: float = 30.0
    # How access tokens are signed: ES256 costs a fifth of RS256 at the token endpoint.
    access_token_alg: str = "ES256"  # noqa: S105 - an algorithm name
    audit_retention_days: int = 365
    # A leaver's account (deactivated by an import) is deleted this long after: ENT data
    # must go within three months of leaving.
    leaver_retention_days: int = 90
    # How long a random initial password handed out on a slip (incident mode) works.
    provisional_password_days: int = 90
    # How often the server purges expired rows (0: never; then run `idp purge` from cron).
    purge_interval_minutes: int = 60
    # How long a change (an establishment disabled, new keys) may take to reach every
    # instance's caches.
    cache_seconds: float = 1.0
    # Failed sign-ins an address may make in an hour before it is slowed down.
    throttle_ip_failures: int = 100
    # Reverse proxies whose X-Forwarded-For is believed.
    trusted_proxies: tuple[Network, ...] = ()
    # /metrics: loopback only, unless a scraper presents this bearer token or comes from
    # one of these networks; with the establishment as a label of the sign-in counter.
    metrics_token: str | None = field(default=None, repr=False)
    metrics_allow: tuple[Network, ...] = ()
    metrics_establishments: bool = True

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    def issuer(self, code: str) -> str:
        return f"{self.base_url}/{code}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
    ) -> Settings:
        """Parse the environment. `environ` defaults to os.environ; `.env` fills the gaps."""
        if env_file is not None and not Path(env_file).is_file():
            env_file = None
        config = Config(env_file, environ=os.environ if environ is None else environ)
        read = _Reader(config)

        database_url = read("IDP_DATABASE_URL", _database_url, cls.database_url)
        base_url = read("IDP_BASE_URL", _base_url, cls.base_url)
        security = read("IDP_SMTP_SECURITY", _choice("none", "starttls", "tls"), "none")
        values: dict[str, Any] = {
            "database_url": database_url,
            "base_url": base_url,
            "argon2_memory_kib": read("IDP_ARGON2_MEMORY_KIB", _int(8, 4_194_304), 19456),
            "argon2_time_cost": read("IDP_ARGON2_TIME_COST", _int(1, 100), 2),
            "argon2_parallelism": read("IDP_ARGON2_PARALLELISM", _int(1, 64), 1),
            "hash_concurrency": read("IDP_HASH_CONCURRENCY", _int(1, 256), os.cpu_count() or 1),
            "hash_queue_timeout": read("IDP_HASH_QUEUE_TIMEOUT", _float(0.1, 300), 10.0),
            "mail_backend": read("IDP_MAIL_BACKEND", _choice("console", "file", "smtp"), "console"),
            "mail_dir": Path(read("IDP_MAIL_DIR", _nonempty, "./mail")),
            "mail_from": read("IDP_MAIL_FROM", _mail_from, cls.mail_from),
            "smtp_host": read("IDP_SMTP_HOST", _nonempty, "localhost"),
            "smtp_port": read("IDP_SMTP_PORT", _int(1, 65535), _SMTP_DEFAULT_PORTS[security]),
            "smtp_username": read("IDP_SMTP_USERNAME", _ascii, None),
            "smtp_password": read("IDP_SMTP_PASSWORD", _ascii, None),
            "smtp_security": security,
            "smtp_timeout": read("IDP_SMTP_TIMEOUT", _float(0.1, 600), 10.0),
            "session_idle": timedelta(
                minutes=read("IDP_SESSION_IDLE_MINUTES", _int(1, 7 * 24 * 60), 120)
            ),
            "session_absolute": timedelta(
                hours=read("IDP_SESSION_ABSOLUTE_HOURS", _int(1, 24 * 30), 12)
            ),
            "password_min_length": read("IDP_PASSWORD_MIN_LENGTH", _int(8, 64), 8),
            "password_min_score": read("IDP_PASSWORD_MIN_SCORE", _int(0, 4), 3),
            "trusted_proxies": read("IDP_TRUSTED_PROXIES", _networks, ()),
            "metrics_token": read("IDP_METRICS_TOKEN", _token, None),
            "metrics_allow": read("IDP_METRICS_ALLOW", _networks, ()),
            "metrics_establishments": read("IDP_METRICS_ESTABLISHMENTS", _switch, True),
            "access_token_lifetime": timedelta(
                minutes=read("IDP_ACCESS_TOKEN_MINUTES", _int(1, 60), 10)
            ),
            "id_token_lifetime": timedelta(minutes=read("IDP_ID_TOKEN_MINUTES", _int(1, 60), 10)),
            "database_pool_size": read("IDP_DATABASE_POOL_SIZE", _int(1, 500), 20),
            "database_threads": read(
                "IDP_DATABASE_THREADS", _int(1, 256), 4 * usable_cpus()
            ),
            "database_timeout": read("IDP_DATABASE_TIMEOUT", _float(2, 600), 5.0),
            "database_busy_timeout": read("IDP_DATABASE_BUSY_TIMEOUT", _float(0.1, 600), 30.0),
            "access_token_alg": read(
                "IDP_ACCESS_TOKEN_ALG", _choice("ES256", "RS256", upper=True), "ES256"
            ),
            "refresh_token_lifetime": timedelta(
                days=read("IDP_REFRESH_TOKEN_DAYS", _int(1, 365), 30)
            ),
            "temporary_password_lifetime": timedelta(
                hours=read("IDP_TEMPORARY_PASSWORD_HOURS", _int(1, 24 * 14), 24)
            ),
            "audit_retention_days": read("IDP_AUDIT_RETENTION_DAYS", _int(1, 3650), 365),
            "leaver_retention_days": read("IDP_LEAVER_RETENTION_DAYS", _int(0, 3650), 90),
            "provisional_password_days": read(
                "IDP_PROVISIONAL_PASSWORD_DAYS", _int(1, 365), 90
            ),
            "purge_interval_minutes": read("IDP_PURGE_INTERVAL_MINUTES", _int(0, 7 * 24 * 60), 60),
            "cache_seconds": read("IDP_CACHE_SECONDS", _float(0, 3600), 1.0),
            "throttle_ip_failures": read("IDP_THROTTLE_IP_FAILURES", _int(10, 100_000), 100),
            "log_level": read(
                "IDP_LOG_LEVEL", _choice("DEBUG", "INFO", "WARNING", "ERROR", upper=True), "INFO"
            ),
            "log_format": read("IDP_LOG_FORMAT", _choice("text", "json"), "text"),
        }
        values["secret_key"] = _secret_key(
            read("IDP_SECRET_KEY", str, None), database_url, base_url
        )
        return cls(**values)


class _Reader:
    def __init__(self, config: Config) -> None:
        self._config = config

    def __call__(self, name: str, parse: Callable[[str], T], default: T) -> T:
        raw = self._config(name, default=None)
        if raw is None or raw == "":
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            raise ConfigurationError(f"{name}: {exc}") from None


def _nonempty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def _ascii(value: str) -> str:
    # smtplib sends SMTP AUTH credentials as ASCII only. Never echo the value: a password.
    if not value.isascii():
        raise ValueError("must contain ASCII characters only (a limit of Python's smtplib)")
    return value


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"expected a whole number, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"expected a number from {low} to {high}, got {number}")
        return number

    return parse


def _float(low: float, high: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"expected a number from {low} to {high}, got {number}")
        return number

    return parse


def _choice(*choices: str, upper: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.upper() if upper else value.lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    return parse


def _token(value: str) -> str:
    if len(value) < 16 or not value.isascii() or not value.isprintable() or " " in value:
        raise ValueError("16 printable ASCII characters or more, without spaces")
    return value


def _switch(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("1 or 0 (true or false)")


def _networks(value: str) -> tuple[Network, ...]:
    networks = []
    for item in value.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"expected IP addresses or networks (CIDR), got {item!r}") from None
    return tuple(networks)


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an absolute http(s) URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or a fragment")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError(f"invalid port in {value!r}") from None
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError("must use https except on a loopback address (127.0.0.1, localhost)")
    return value.rstrip("/")


def _database_url(value: str) -> str:
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"not a database URL: {value!r}") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError("only sqlite:/// and postgresql+psycopg:// URLs are supported")
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        raise ValueError("use the psycopg driver: postgresql+psycopg://…")
    if url.get_backend_name() == "sqlite" and url.get_driver_name() != "pysqlite":
        raise ValueError("use the standard driver: sqlite:///path/to/idp.db")
    return value


def _mail_from(value: str) -> str:
    if "@" not in value:
        raise ValueError(
            f"expected an address such as 'CPRO Connect <no-reply@example.fr>', got {value!r}"
        )
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret_key(value: str | None, database_url: str, base_url: str) -> str:
    if value:
        if len(value) < _MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"IDP_SECRET_KEY: must be at least {_MIN_SECRET_LENGTH} characters "
                "(try: python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return value
    if base_url.startswith("https://"):
        raise ConfigurationError("IDP_SECRET_KEY: required when IDP_BASE_URL uses https")
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise ConfigurationError(
            "IDP_SECRET_KEY: required with PostgreSQL (every instance must share the same key)"
        )
    if not url.database or url.database == ":memory:":
        return secrets.token_urlsafe(48)
    return _dev_secret_file(Path(url.database + ".secret-key"))


def _dev_secret_file(path: Path) -> str:
    """Development only: a key generated once and kept beside the SQLite database.

    Written to a temporary file then linked into place, so that two processes starting at
    once agree on one key and nobody reads a half-written file.
    """
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-", text=True)
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(48) + "\n")
                os.chmod(tmp, 0o600)
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)
            finally:
                os.unlink(tmp)
        key = path.read_text().strip()
    except OSError as exc:
        raise ConfigurationError(
            f"IDP_SECRET_KEY: not set, and the development key file {path} "
            f"cannot be used ({exc.strerror})"
        ) from None
    if len(key) < _MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"IDP_SECRET_KEY: not set, and the development key file {path} holds fewer than "
            f"{_MIN_SECRET_LENGTH} characters (delete it to generate a new one)"
        )
    return key
