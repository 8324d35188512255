"""Settings.from_env: defaults, every IDP_* variable, one-line errors, the secret key, `.env`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from idp.errors import ConfigurationError
from idp.settings import Settings

KEY = "k" * 32  # the shortest accepted secret key
POSTGRES = "postgresql+psycopg://idp:pw@db.example.fr:5432/idp"


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default database is ./idp.db and its dev key ./idp.db.secret-key: keep them here.
    monkeypatch.chdir(tmp_path)


def from_env(**environ: str) -> Settings:
    return Settings.from_env(environ=environ, env_file=None)


def config_error(**environ: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        from_env(**environ)
    return str(caught.value)


# -- defaults ------------------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    s = from_env()

    assert s.database_url == "sqlite:///./idp.db"
    assert s.is_sqlite
    assert s.base_url == "http://127.0.0.1:8000"
    assert not s.https
    assert s.issuer("lp-a") == "http://127.0.0.1:8000/lp-a"
    assert (s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism) == (19456, 2, 1)
    assert s.hash_concurrency == (os.cpu_count() or 1)
    assert s.hash_queue_timeout == 10.0
    assert s.mail_backend == "console"
    assert s.mail_dir == Path("./mail")
    assert s.mail_from == "CPRO Connect <no-reply@localhost>"
    assert (s.smtp_host, s.smtp_port, s.smtp_security) == ("localhost", 25, "none")
    assert s.smtp_username is None
    assert s.smtp_password is None
    assert s.smtp_timeout == 10.0
    assert s.log_level == "INFO"
    assert s.access_token_alg == "ES256"
    assert s.database_pool_size == 20
    # Development (http on loopback, SQLite): a key is generated beside ./idp.db.
    assert len(s.secret_key) >= 32
    assert (tmp_path / "idp.db.secret-key").read_text().strip() == s.secret_key


def test_environ_argument_replaces_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_ARGON2_MEMORY_KIB", "abc")
    monkeypatch.setenv("IDP_BASE_URL", "https://idp.example.fr")
    s = from_env()
    assert s.argon2_memory_kib == 19456
    assert s.base_url == "http://127.0.0.1:8000"


def test_empty_values_mean_default() -> None:
    s = from_env(IDP_ARGON2_TIME_COST="", IDP_MAIL_BACKEND="", IDP_SMTP_USERNAME="")
    assert s.argon2_time_cost == 2
    assert s.mail_backend == "console"
    assert s.smtp_username is None


# -- every variable ------------------------------------------------------------------------


def test_every_variable_is_parsed(tmp_path: Path) -> None:
    secret = "s3cret-" + "x" * 40
    s = from_env(
        IDP_DATABASE_URL=POSTGRES,
        IDP_BASE_URL="https://connect.cpro-education.fr/idp/",
        IDP_SECRET_KEY=secret,
        IDP_ARGON2_MEMORY_KIB="65536",
        IDP_ARGON2_TIME_COST="3",
        IDP_ARGON2_PARALLELISM="4",
        IDP_HASH_CONCURRENCY="7",
        IDP_HASH_QUEUE_TIMEOUT="2.5",
        IDP_MAIL_BACKEND="SMTP",
        IDP_MAIL_DIR=str(tmp_path / "outbox"),
        IDP_MAIL_FROM="CPRO éducation <no-reply@cpro-education.fr>",
        IDP_SMTP_HOST="smtp.example.fr",
        IDP_SMTP_PORT="2525",
        IDP_SMTP_USERNAME="idp",
        IDP_SMTP_PASSWORD="smtp-p@ss:w0rd!",
        IDP_SMTP_SECURITY="StartTLS",
        IDP_SMTP_TIMEOUT="4.5",
        IDP_LOG_LEVEL="debug",
        IDP_SESSION_IDLE_MINUTES="30",
        IDP_SESSION_ABSOLUTE_HOURS="8",
        IDP_PASSWORD_MIN_LENGTH="12",
        IDP_PASSWORD_MIN_SCORE="4",
        IDP_TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.1 ::1",
        IDP_ACCESS_TOKEN_MINUTES="5",
        IDP_ID_TOKEN_MINUTES="3",
        IDP_ACCESS_TOKEN_ALG="RS256",
        IDP_DATABASE_POOL_SIZE="35",
        IDP_REFRESH_TOKEN_DAYS="7",
        IDP_TEMPORARY_PASSWORD_HOURS="48",
        IDP_AUDIT_RETENTION_DAYS="90",
        IDP_THROTTLE_IP_FAILURES="300",
    )

    assert s.database_url == POSTGRES
    assert not s.is_sqlite
    assert s.base_url == "https://connect.cpro-education.fr/idp"  # trailing slash dropped
    assert s.https
    assert s.issuer("lp-a") == "https://connect.cpro-education.fr/idp/lp-a"
    assert s.secret_key == secret
    assert (s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism) == (65536, 3, 4)
    assert s.hash_concurrency == 7
    assert s.hash_queue_timeout == 2.5
    assert s.mail_backend == "smtp"
    assert s.mail_dir == tmp_path / "outbox"
    assert s.mail_from == "CPRO éducation <no-reply@cpro-education.fr>"
    assert s.smtp_host == "smtp.example.fr"
    assert s.smtp_port == 2525
    assert s.smtp_username == "idp"
    assert s.smtp_password == "smtp-p@ss:w0rd!"
    assert s.smtp_security == "starttls"
    assert s.smtp_timeout == 4.5
    assert s.log_level == "DEBUG"
    assert s.session_idle == timedelta(minutes=30)
    assert s.session_absolute == timedelta(hours=8)
    assert (s.password_min_length, s.password_min_score) == (12, 4)
    assert [str(n) for n in s.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32", "::1/128"]
    assert s.access_token_lifetime == timedelta(minutes=5)
    assert s.id_token_lifetime == timedelta(minutes=3)
    assert s.access_token_alg == "RS256"
    assert s.database_pool_size == 35
    assert s.refresh_token_lifetime == timedelta(days=7)
    assert s.temporary_password_lifetime == timedelta(hours=48)
    assert (s.audit_retention_days, s.throttle_ip_failures) == (90, 300)


def test_surrounding_whitespace_is_ignored() -> None:
    s = from_env(IDP_ARGON2_TIME_COST=" 3 ", IDP_MAIL_BACKEND=" file\n", IDP_SMTP_PORT="\t587")
    assert s.argon2_time_cost == 3
    assert s.mail_backend == "file"
    assert s.smtp_port == 587


@pytest.mark.parametrize(("security", "port"), [("none", 25), ("starttls", 587), ("tls", 465)])
def test_smtp_port_defaults_to_the_security_mode(security: str, port: int) -> None:
    assert from_env(IDP_SMTP_SECURITY=security).smtp_port == port
    assert from_env(IDP_SMTP_SECURITY=security, IDP_SMTP_PORT="2525").smtp_port == 2525


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://LOCALHOST",
        "http://127.0.0.2:9000",
        "http://[::1]:8000",
    ],
)
def test_http_is_accepted_on_loopback(base_url: str) -> None:
    assert from_env(IDP_BASE_URL=base_url).base_url == base_url


def test_sqlite_url_with_explicit_default_driver_is_accepted(tmp_path: Path) -> None:
    url = f"sqlite+pysqlite:///{tmp_path}/idp.db"
    assert from_env(IDP_DATABASE_URL=url).database_url == url


def test_secrets_are_not_in_repr() -> None:
    s = from_env(IDP_SECRET_KEY="top-secret-" + "x" * 30, IDP_SMTP_PASSWORD="smtp-hunter2")
    assert "top-secret-" not in repr(s)
    assert "smtp-hunter2" not in repr(s)


# -- every bad value -----------------------------------------------------------------------

BAD_VALUES = [
    ("IDP_ARGON2_MEMORY_KIB", "abc"),
    ("IDP_ARGON2_MEMORY_KIB", "12.5"),
    ("IDP_ARGON2_MEMORY_KIB", "7"),
    ("IDP_ARGON2_MEMORY_KIB", "4194305"),
    ("IDP_ARGON2_MEMORY_KIB", "-19456"),
    ("IDP_ARGON2_TIME_COST", "0"),
    ("IDP_ARGON2_TIME_COST", "101"),
    ("IDP_ARGON2_TIME_COST", "two"),
    ("IDP_ARGON2_PARALLELISM", "0"),
    ("IDP_ARGON2_PARALLELISM", "65"),
    ("IDP_HASH_CONCURRENCY", "0"),
    ("IDP_HASH_CONCURRENCY", "257"),
    ("IDP_HASH_CONCURRENCY", "many"),
    ("IDP_HASH_QUEUE_TIMEOUT", "0"),
    ("IDP_HASH_QUEUE_TIMEOUT", "301"),
    ("IDP_HASH_QUEUE_TIMEOUT", "nan"),
    ("IDP_HASH_QUEUE_TIMEOUT", "soon"),
    ("IDP_SMTP_PORT", "0"),
    ("IDP_SMTP_PORT", "65536"),
    ("IDP_SMTP_PORT", "smtp"),
    ("IDP_SESSION_IDLE_MINUTES", "0"),
    ("IDP_ACCESS_TOKEN_MINUTES", "0"),
    ("IDP_REFRESH_TOKEN_DAYS", "many"),
    ("IDP_TEMPORARY_PASSWORD_HOURS", "0"),
    ("IDP_SESSION_ABSOLUTE_HOURS", "two"),
    ("IDP_PASSWORD_MIN_LENGTH", "6"),
    ("IDP_PASSWORD_MIN_SCORE", "5"),
    ("IDP_TRUSTED_PROXIES", "10.0.0.0/33"),
    ("IDP_TRUSTED_PROXIES", "proxy.local"),
    ("IDP_SMTP_TIMEOUT", "0.01"),
    ("IDP_SMTP_TIMEOUT", "601"),
    ("IDP_SMTP_TIMEOUT", "inf"),
    ("IDP_SMTP_TIMEOUT", "10s"),
    ("IDP_MAIL_BACKEND", "sendmail"),
    ("IDP_SMTP_SECURITY", "ssl"),
    ("IDP_LOG_LEVEL", "TRACE"),
    ("IDP_ACCESS_TOKEN_ALG", "HS256"),
    ("IDP_DATABASE_POOL_SIZE", "0"),
    ("IDP_ACCESS_TOKEN_ALG", "none"),
    ("IDP_BASE_URL", "idp.example.fr"),
    ("IDP_BASE_URL", "/cpro"),
    ("IDP_BASE_URL", "//idp.example.fr"),
    ("IDP_BASE_URL", "ftp://idp.example.fr"),
    ("IDP_BASE_URL", "https://"),
    ("IDP_BASE_URL", "https://idp.example.fr/?tenant=1"),
    ("IDP_BASE_URL", "https://idp.example.fr/#top"),
    ("IDP_BASE_URL", "https://idp.example.fr:99999"),
    ("IDP_BASE_URL", "https://idp.example.fr:https"),
    ("IDP_BASE_URL", "http://idp.example.fr"),
    ("IDP_BASE_URL", "http://192.168.1.10:8000"),
    ("IDP_BASE_URL", "http://0.0.0.0:8000"),
    ("IDP_BASE_URL", "http://localhost.example.fr"),
    ("IDP_DATABASE_URL", "not a database url"),
    ("IDP_DATABASE_URL", "mysql+pymysql://idp:pw@db/idp"),
    ("IDP_DATABASE_URL", "oracle://idp:pw@db/idp"),
    ("IDP_DATABASE_URL", "postgresql+psycopg2://idp:pw@db/idp"),
    ("IDP_DATABASE_URL", "postgresql+asyncpg://idp:pw@db/idp"),
    ("IDP_DATABASE_URL", "sqlite+aiosqlite:///./idp.db"),
    ("IDP_MAIL_FROM", "no-reply.cpro-education.fr"),
    ("IDP_MAIL_FROM", "CPRO Connect"),
    ("IDP_SMTP_USERNAME", "andré"),
    ("IDP_SMTP_PASSWORD", "mot-de-passe-été"),
    ("IDP_SECRET_KEY", "short"),
    ("IDP_SECRET_KEY", "k" * 31),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_bad_value_is_one_line_naming_the_variable(name: str, value: str) -> None:
    # A secret key is given (unless it is the variable under test) so that an https base URL
    # fails for its own reason; the database stays in memory so no key file is written.
    environ = {"IDP_SECRET_KEY": KEY, "IDP_DATABASE_URL": "sqlite:///:memory:", name: value}
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(environ=environ, env_file=None)
    message = str(caught.value)
    assert message == caught.value.message
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{name}:"), message


def test_bad_secret_values_are_not_echoed() -> None:
    # The message goes to a terminal or a log: it names the variable, never the secret.
    assert "été-secret" not in config_error(IDP_SMTP_PASSWORD="mot-de-passe-été-secret")
    assert "shortkey" not in config_error(IDP_SECRET_KEY="shortkey")


def test_bad_value_in_an_env_file_names_the_variable(tmp_path: Path) -> None:
    env_file = tmp_path / "idp.env"
    env_file.write_text("IDP_SMTP_PORT=twenty-five\n")
    with pytest.raises(ConfigurationError, match=r"^IDP_SMTP_PORT: "):
        Settings.from_env(environ={}, env_file=env_file)


# -- the secret key ------------------------------------------------------------------------


def test_secret_key_required_under_https() -> None:
    message = config_error(IDP_BASE_URL="https://connect.cpro-education.fr")
    assert message.startswith("IDP_SECRET_KEY:")
    assert "\n" not in message


def test_secret_key_required_with_postgresql() -> None:
    message = config_error(IDP_DATABASE_URL=POSTGRES)
    assert message.startswith("IDP_SECRET_KEY:")
    assert "\n" not in message


def test_given_secret_key_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    key = "a-long-enough-shared-secret-key-0123456789"
    assert from_env(IDP_DATABASE_URL=POSTGRES, IDP_SECRET_KEY=key).secret_key == key
    assert from_env(IDP_SECRET_KEY=KEY).secret_key == KEY  # 32 characters: the minimum
    assert list(tmp_path.iterdir()) == []


def test_dev_secret_key_is_generated_once_beside_the_sqlite_database(tmp_path: Path) -> None:
    db = tmp_path / "data" / "idp.db"  # the directory does not exist yet
    url = f"sqlite:///{db}"

    first = from_env(IDP_DATABASE_URL=url).secret_key

    key_file = tmp_path / "data" / "idp.db.secret-key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first
    assert len(first) >= 32
    # Read back, not regenerated: sessions and encrypted keys survive a restart.
    assert from_env(IDP_DATABASE_URL=url).secret_key == first
    assert key_file.read_text().strip() == first
    # Another database, another key.
    other = from_env(IDP_DATABASE_URL=f"sqlite:///{tmp_path}/other.db").secret_key
    assert other != first


def test_dev_secret_key_for_in_memory_sqlite_is_random_and_not_written(tmp_path: Path) -> None:
    a = from_env(IDP_DATABASE_URL="sqlite:///:memory:").secret_key
    b = from_env(IDP_DATABASE_URL="sqlite:///:memory:").secret_key
    assert len(a) >= 32 and len(b) >= 32
    assert a != b
    assert list(tmp_path.iterdir()) == []


def test_unusable_dev_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a directory\n")
    message = config_error(IDP_DATABASE_URL=f"sqlite:///{tmp_path}/blocker/idp.db")
    assert message.startswith("IDP_SECRET_KEY:")
    assert "\n" not in message


# -- .env ----------------------------------------------------------------------------------


def test_env_file_fills_the_gaps_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text(
        "# CPRO Connect\n"
        "IDP_BASE_URL=https://connect.cpro-education.fr\n"
        f"IDP_SECRET_KEY={KEY}\n"
        "IDP_ARGON2_TIME_COST=3\n"
        'IDP_MAIL_FROM="CPRO Connect <no-reply@cpro-education.fr>"\n'
    )
    s = Settings.from_env(environ={"IDP_ARGON2_TIME_COST": "5"}, env_file=env_file)
    assert s.base_url == "https://connect.cpro-education.fr"
    assert s.secret_key == KEY
    assert s.mail_from == "CPRO Connect <no-reply@cpro-education.fr>"
    assert s.argon2_time_cost == 5  # the environment overrides the file


def test_dot_env_in_the_working_directory_is_read_by_default(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("IDP_ARGON2_PARALLELISM=3\n")
    assert Settings.from_env(environ={}).argon2_parallelism == 3
    # env_file=None: the file is ignored.
    assert Settings.from_env(environ={}, env_file=None).argon2_parallelism == 1


def test_missing_env_file_is_ignored(tmp_path: Path) -> None:
    s = Settings.from_env(environ={"IDP_ARGON2_TIME_COST": "4"}, env_file=tmp_path / "nope.env")
    assert s.argon2_time_cost == 4


# -- the real process ----------------------------------------------------------------------


def test_cli_with_a_bad_setting_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    idp = Path(sys.executable).parent / "idp"
    assert idp.exists(), f"console script not installed beside {sys.executable}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env["IDP_ARGON2_MEMORY_KIB"] = "abc"

    result = subprocess.run(
        [str(idp), "establishment", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "IDP_ARGON2_MEMORY_KIB" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing created: no database, no key file
