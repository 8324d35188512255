"""Faults around a real `idp serve` process: PostgreSQL that goes silent or away behind a
proxy the test controls (tests/fault_support.py: the shared PostgreSQL is never stopped), a
back-channel receiver that never answers, a process killed right after it answered."""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from e2e.conftest import IDP, _free_port, run_command, start_server, stop_server
from e2e.test_instances import PASSWORD, SCHOOL, Agent, Instance, redeem, token, userinfo
from fault_support import Proxy
from sqlalchemy.engine import make_url

from conftest import _truncate_postgres
from helpers import UAI_A

# The promise: a request waits for the database IDP_DATABASE_TIMEOUT (5 s by default) at
# most; the slack covers a loaded machine, not the design.
TIMEOUT = 5.0
SLACK = 1.5


@dataclass
class Server:
    """One `idp serve` on a fixed port (a restarted process keeps the issuer) and the CLI,
    on one database."""

    directory: Path
    env: dict[str, str]
    instance: Instance
    client: dict[str, str]

    def start(self) -> None:
        self.instance.process = start_server(
            [IDP, "serve", "--host", "127.0.0.1", "--port", str(self.instance.port)],
            cwd=self.directory,
            env=self.env,
            log=self.log,
            health_url=self.instance.at("/healthz"),
        )

    def kill(self) -> None:
        assert self.instance.process is not None
        stop_server(self.instance.process, kill=True)

    def stop(self) -> None:
        if self.instance.process is not None:
            stop_server(self.instance.process)

    @property
    def log(self) -> Path:
        return self.directory / "serve.log"

    def idp(self, *args: str, stdin: str | None = None, url: str | None = None) -> str:
        env = self.env if url is None else {**self.env, "IDP_DATABASE_URL": url}
        return run_command([IDP, *args], cwd=self.directory, env=env, stdin=stdin)


def _server(directory: Path, database_url: str, cli_url: str | None = None) -> Server:
    """A provider seeded through the CLI (at `cli_url` if the server's URL goes through a
    proxy): an establishment, Léa with a password, a confidential module."""
    instance = Instance("idp", _free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(
        {
            "IDP_DATABASE_URL": database_url,
            "IDP_SECRET_KEY": secrets.token_urlsafe(48),
            "IDP_BASE_URL": instance.url,
            "IDP_ARGON2_MEMORY_KIB": "1024",
            "IDP_ARGON2_TIME_COST": "1",
            "IDP_MAIL_BACKEND": "file",
            "IDP_MAIL_DIR": str(directory / "mail"),
        }
    )
    server = Server(directory, env, instance, {})
    if database_url.startswith("sqlite"):
        server.idp("db", "upgrade")
    server.idp(
        "establishment", "create", SCHOOL, "--name", "Lycée professionnel A", "--uai", UAI_A,
        "--email", "secretariat@lp-a.example", url=cli_url,
    )  # fmt: skip
    login = server.idp(
        "user", "add", SCHOOL, "--first-name", "Léa", "--last-name", "Martin",
        "--birth-date", "2009-03-14", "--role", "student", url=cli_url,
    ).strip().splitlines()[-1]  # fmt: skip
    server.idp(
        "user", "set-password", SCHOOL, login, "--password-stdin", stdin=PASSWORD, url=cli_url
    )
    server.client.update(_add_client(server, "C Pro STI", url=cli_url))
    return server


def _add_client(server: Server, name: str, *options: str, url: str | None = None) -> dict:  # type: ignore[type-arg]
    out = server.idp(
        "client", "add", SCHOOL, "--name", name, "--redirect-uri",
        "https://sti.cpro.example/callback", *options, "--json", url=url,
    )  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def agents() -> Iterator[Callable[[], Agent]]:
    made: list[Agent] = []

    def make() -> Agent:
        made.append(Agent())
        return made[-1]

    yield make
    for agent in made:
        agent.close()


def tokens_of(server: Server, agent: Agent, client: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    client = client or server.client
    params, verifier = agent.authorize(server.instance, client["client_id"])
    answer = redeem(server.instance, client, params["code"], verifier)
    assert answer.status_code == 200, answer.text
    return answer.json()


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


# -- PostgreSQL stops for a while ----------------------------------------------------------


@pytest.fixture
def behind_proxy(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Server, Proxy]]:
    _truncate_postgres(postgres_url)
    url = make_url(postgres_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server = _server(tmp_path, proxied, cli_url=postgres_url)
    server.start()
    try:
        yield server, proxy
    finally:
        server.stop()
        proxy.close()


def _requests(server: Server, issued: dict[str, str]) -> dict[str, Callable[[], httpx.Response]]:
    """What modules and people ask while the database is away; each touches it."""
    at = server.instance.at
    return {
        "token": lambda: token(
            server.instance,
            server.client,
            grant_type="refresh_token",
            refresh_token=issued["refresh_token"],
        ),
        "userinfo": lambda: userinfo(server.instance, issued["access_token"]),
        "login page": lambda: httpx.get(at(f"/{SCHOOL}/login"), timeout=30),
        "discovery": lambda: httpx.get(
            at(f"/{SCHOOL}/.well-known/openid-configuration"), timeout=30
        ),
        "readyz": lambda: httpx.get(at("/readyz"), timeout=30),
    }


def _assert_unavailable(name: str, response: httpx.Response) -> None:
    assert response.status_code == 503, (name, response.status_code, response.text[:300])
    if name in ("token", "userinfo", "discovery"):
        assert response.json() == {"error": "temporarily_unavailable"}, name
        assert response.headers["retry-after"] == "5"
    elif name == "login page":
        assert "Service momentanément indisponible" in response.text
        assert response.headers["retry-after"] == "5"


def _recovered(server: Server, issued: dict[str, str], within: float) -> float:
    started = time.monotonic()
    while userinfo(server.instance, issued["access_token"]).status_code != 200:
        assert time.monotonic() - started < within, f"not served again within {within} s"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.mark.slow
@pytest.mark.postgres
def test_postgresql_away_answers_503_within_the_timeout_and_service_resumes_by_itself(
    behind_proxy, agents, capsys
) -> None:  # type: ignore[no-untyped-def]
    server, proxy = behind_proxy
    issued = tokens_of(server, agents())
    assert userinfo(server.instance, issued["access_token"]).status_code == 200
    process = server.instance.process
    figures: dict[str, float] = {}

    # Silent: connections stay open and nothing answers (a hung network or server).
    proxy.hang()
    time.sleep(1.2)  # past IDP_CACHE_SECONDS: the establishment is read again
    for name, call in _requests(server, issued).items():
        response, took = timed(call)
        _assert_unavailable(name, response)
        assert took < TIMEOUT + SLACK, (name, took)
        figures[f"silent: {name}"] = took
    proxy.restore()
    figures["silent: served again after"] = _recovered(server, issued, TIMEOUT + SLACK)

    # Away: connections closed and refused (the server stopped).
    proxy.cut()
    time.sleep(1.2)
    for name, call in _requests(server, issued).items():
        response, took = timed(call)
        _assert_unavailable(name, response)
        assert took < 1.0, (name, took)
        figures[f"refused: {name}"] = took
    proxy.restore()
    figures["refused: served again after"] = _recovered(server, issued, TIMEOUT + SLACK)

    # The same process, and everything works: the refresh token, the new access token.
    assert process is not None and process.poll() is None
    refreshed = token(
        server.instance,
        server.client,
        grant_type="refresh_token",
        refresh_token=issued["refresh_token"],
    )
    assert refreshed.status_code == 200, refreshed.text
    assert userinfo(server.instance, refreshed.json()["access_token"]).status_code == 200

    # One warning line per refused request, no stack trace.
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    assert "database unavailable on" in log
    with capsys.disabled():
        print("\nfaults, PostgreSQL away:", {k: round(v, 2) for k, v in figures.items()})


# -- a back-channel receiver that never answers ----------------------------------------------


class Silent:
    """A module's back-channel endpoint that accepts connections and never answers."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/backchannel"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(connection)
            self.accepted += 1

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for connection in self._held:
            connection.close()


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    server = _server(tmp_path, f"sqlite:///{tmp_path / 'idp.db'}")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_back_channel_receiver_that_never_answers_never_delays_the_user(
    sqlite_server, agents, capsys
) -> None:  # type: ignore[no-untyped-def]
    server = sqlite_server
    silent = Silent()
    try:
        module = _add_client(server, "Muet", "--backchannel-logout-uri", silent.url)
        sessions = []
        for _ in range(2):
            agent = agents()
            sessions.append((agent, tokens_of(server, agent, module)["id_token"]))
        took = []
        for agent, id_token in sessions:
            query = urlencode({"id_token_hint": id_token})
            ended, seconds = timed(
                lambda agent=agent, query=query: agent.http.get(
                    server.instance.at(f"/{SCHOOL}/oidc/logout?{query}")
                )
            )
            assert ended.status_code == 200
            took.append(seconds)
            # The sender is stuck on the receiver (its timeout is 5 s) before the second.
            deadline = time.monotonic() + 5
            while silent.accepted < 1:
                assert time.monotonic() < deadline, "the notice was not sent"
                time.sleep(0.02)
        assert max(took) < 1.0, took
        with capsys.disabled():
            print("\nfaults, logout with a silent receiver (s):", [round(t, 3) for t in took])
        # Signing in again while the sender waits is not delayed either.
        started = time.monotonic()
        tokens_of(server, agents())
        assert time.monotonic() - started < 2.0
    finally:
        silent.close()


# -- a process killed right after it answered ----------------------------------------------


def _killed_after_answering(server: Server, agent: Agent) -> None:
    issued = tokens_of(server, agent)
    server.kill()  # SIGKILL: no shutdown, no flush, right after the answer
    server.start()
    assert userinfo(server.instance, issued["access_token"]).status_code == 200
    refreshed = token(
        server.instance,
        server.client,
        grant_type="refresh_token",
        refresh_token=issued["refresh_token"],
    )
    assert refreshed.status_code == 200, refreshed.text
    server.kill()
    server.start()
    # The rotation was stored before its answer: the new pair works, the old token is spent.
    rotated = refreshed.json()
    assert userinfo(server.instance, rotated["access_token"]).status_code == 200
    again = token(
        server.instance,
        server.client,
        grant_type="refresh_token",
        refresh_token=rotated["refresh_token"],
    )
    assert again.status_code == 200, again.text


def test_tokens_answered_by_a_killed_process_work_at_the_next_one_sqlite(
    sqlite_server, agents
) -> None:  # type: ignore[no-untyped-def]
    _killed_after_answering(sqlite_server, agents())


@pytest.mark.postgres
def test_tokens_answered_by_a_killed_process_work_at_the_next_one_postgresql(
    postgres_url, tmp_path, agents
) -> None:  # type: ignore[no-untyped-def]
    _truncate_postgres(postgres_url)
    server = _server(tmp_path, postgres_url)
    server.start()
    try:
        _killed_after_answering(server, agents())
    finally:
        server.stop()
