"""End-to-end fixtures: the provider as a real `idp serve` process, driven by the system
Chromium through Playwright.

One server per test module (a fresh SQLite database in a temporary directory, seeded through
the real CLI); one browser per module; a new browser context (cookies, storage) per test.
A missing Chromium skips the browser tests with the reason, or fails them under
IDP_TEST_REQUIRE_ALL=1 (`missing_service`).
"""

from __future__ import annotations

import os
import secrets
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Error, Page, sync_playwright

from conftest import missing_service
from helpers import UAI_A

CHROMIUM = os.environ.get("IDP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
IDP = Path(sys.executable).parent / "idp"  # not resolved: the venv's bin, not /usr/bin

SCHOOL = "lp-a"
SCHOOL_NAME = "Lycée professionnel A"
STARTUP_SECONDS = 30.0
STOP_SECONDS = 10.0
CLI_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(directory: Path, base_url: str, **settings: str) -> dict[str, str]:
    """The environment of a server under test: none of the outer IDP_* settings, a SQLite
    database and a secret key of its own in `directory`, then `settings` (IDP_… names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env |= {
        "IDP_DATABASE_URL": f"sqlite:///{directory / 'idp.db'}",
        "IDP_SECRET_KEY": secrets.token_urlsafe(48),
        "IDP_BASE_URL": base_url,
        **settings,
    }
    return env


def run_command(
    args: list[str | Path],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = CLI_SECONDS,
) -> str:
    """Run a command as an operator would: its standard output, or the test fails with
    everything it said."""
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(str(a) for a in args)}` exited with {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result.stdout


def start_server(
    args: list[str | Path], *, cwd: Path, env: dict[str, str], log: Path, health_url: str
) -> subprocess.Popen[bytes]:
    """Start a server process (its output appended to `log`); returns once `health_url`
    answers, or fails the test with the log."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(a) for a in args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _healthy(health_url):
        text = log.read_text(errors="replace") if log.exists() else ""
        if process.poll() is not None:
            pytest.fail(f"`{args[0]} {args[1]}` exited with {process.returncode}:\n{text}")
        if time.monotonic() > deadline:
            stop_server(process)
            pytest.fail(f"no answer at {health_url} within {STARTUP_SECONDS:.0f} s:\n{text}")
        time.sleep(0.05)
    return process


def stop_server(process: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    if process.poll() is not None:
        return
    if kill:
        process.kill()
    else:
        process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_SECONDS)


@dataclass
class Provider:
    """A running `idp serve` and the CLI that administers the same database."""

    base_url: str
    directory: Path
    env: dict[str, str]
    log: Path
    _names: set[str] = field(default_factory=set)

    def url(self, path: str = "") -> str:
        return f"{self.base_url}{path}"

    def idp(self, *args: str, stdin: str | None = None) -> str:
        """Run `idp ARGS…` like an operator would; its standard output, or the test fails."""
        return run_command([IDP, *args], cwd=self.directory, env=self.env, stdin=stdin)

    def add_user(
        self, first_name: str, last_name: str, birth_date: str, role: str = "student"
    ) -> str:
        """`idp user add`; returns the login it printed (the last line)."""
        out = self.idp(
            "user",
            "add",
            SCHOOL,
            "--first-name",
            first_name,
            "--last-name",
            last_name,
            "--birth-date",
            birth_date,
            "--role",
            role,
        )
        return out.strip().splitlines()[-1].strip()

    def new_student(self, birth_date: str = "2009-05-21") -> str:
        """A student nobody has used yet (unique last name); returns the login."""
        while True:
            name = "".join(secrets.choice(string.ascii_lowercase) for _ in range(7))
            if name not in self._names:
                self._names.add(name)
                break
        return self.add_user("Hugo", name.capitalize(), birth_date)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback http)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    directory = tmp_path_factory.mktemp("provider")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    # The outer environment's IDP_* settings must not leak into the server under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(
        {
            "IDP_DATABASE_URL": f"sqlite:///{directory / 'idp.db'}",
            "IDP_SECRET_KEY": secrets.token_urlsafe(48),
            "IDP_ARGON2_MEMORY_KIB": "1024",
            "IDP_ARGON2_TIME_COST": "1",
            "IDP_MAIL_BACKEND": "file",
            "IDP_MAIL_DIR": str(directory / "mail"),
            "IDP_BASE_URL": base_url,
        }
    )
    provider = Provider(
        base_url=base_url, directory=directory, env=env, log=directory / "serve.log"
    )
    provider.idp("db", "upgrade")
    provider.idp(
        "establishment",
        "create",
        SCHOOL,
        "--name",
        SCHOOL_NAME,
        "--uai",
        UAI_A,
        "--email",
        "secretariat@lp-a.example",
    )
    login = provider.add_user("Léa", "Martin", "2009-03-14")
    assert login == "lea.martin"

    process = start_server(
        [IDP, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=directory,
        env=env,
        log=provider.log,
        health_url=provider.url("/healthz"),
    )
    try:
        yield provider
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file() or not os.access(CHROMIUM, os.X_OK):
        missing_service(f"Chromium: no executable at {CHROMIUM} (set IDP_TEST_CHROMIUM)")
    playwright = sync_playwright().start()
    try:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as exc:
            first_line = (str(exc).strip().splitlines() or ["unknown error"])[0]
            missing_service(f"Chromium at {CHROMIUM} could not be started: {first_line}")
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def fresh_browser(browser: Browser) -> Iterator[Browser]:
    """A browser of its own, for what a browser remembers across contexts (a failed favicon)."""
    own = browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield own
    finally:
        own.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile for each test, in French."""
    ctx = browser.new_context(locale="fr-FR")
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
