"""Helpers for the protocol tests: a user agent that signs in, PKCE, callback parsing."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from helpers import csrf_from

PASSWORD = "ma tortue verte lit le journal"
REDIRECT = "https://sti.cpro.example/callback"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Provider:
    base_url: str
    rt: object

    def issuer(self, code: str) -> str:
        return f"{self.base_url}/{code}"


@dataclass
class Registered:
    client_id: str
    client_secret: str | None


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Browser:
    """A user agent: follows the provider's redirects and fills its forms; stops at the
    first redirect that leaves the provider (to the module)."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.http = httpx.Client(follow_redirects=False, timeout=10)

    def close(self) -> None:
        self.http.close()

    def go(self, url: str, *, login: str | None = None, password: str = PASSWORD) -> httpx.Response:
        response = self.http.get(url)
        for _ in range(10):
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers["location"]
                if location.startswith("/"):
                    location = self.provider.base_url + location
                if not location.startswith(self.provider.base_url):
                    return response  # back to the module
                if "/login" in urlsplit(location).path and login is not None:
                    response = self.sign_in(location, login, password)
                    login = None  # once
                    continue
                response = self.http.get(location)
                continue
            return response
        raise AssertionError("too many redirects")

    def sign_in(self, login_url: str, login: str, password: str) -> httpx.Response:
        page = self.http.get(login_url)
        query = parse_qs(urlsplit(login_url).query)
        action = urlsplit(login_url).path
        data = {"csrf_token": csrf_from(page.text), "login": login, "password": password}
        if "next" in query:
            data["next"] = query["next"][0]
        return self.http.post(self.provider.base_url + action, data=data)


def callback_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, (response.status_code, response.text[:500])
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize(browser: Browser, provider: Provider, school: str, client_id: str, **extra: str):  # type: ignore[no-untyped-def]
    """Run the authorization request as Léa's browser: (the answer at the module, verifier)."""
    verifier, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    url = f"{provider.issuer(school)}/oidc/authorize?{httpx.QueryParams(query)}"
    return browser.go(url, login="lea.martin"), verifier


def redeem(provider: Provider, school: str, client: Registered, code: str, verifier: str) -> dict:  # type: ignore[type-arg]
    """The token endpoint's answer for a code, as the module's back end asks."""
    with httpx.Client() as http:
        return http.post(
            f"{provider.issuer(school)}/oidc/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            auth=(client.client_id, client.client_secret or ""),
        ).json()


@dataclass(frozen=True)
class Received:
    token: str
    cache_control: str | None
    content_type: str | None


class Receiver:
    """A module's back-channel logout endpoint: answers the n-th POST with `answers[n]` (the
    last one repeats), after `delay` seconds, with a Location header if `location` is
    given, and records what it got."""

    def __init__(
        self, answers: tuple[int, ...] = (200,), delay: float = 0.0, location: str | None = None
    ) -> None:
        self.answers = answers
        self.delay = delay
        self.got: list[Received] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/backchannel"

        async def receive(request):  # type: ignore[no-untyped-def]
            form = await request.form()
            with self._lock:
                self.got.append(
                    Received(
                        str(form["logout_token"]),
                        request.headers.get("cache-control"),
                        request.headers.get("content-type"),
                    )
                )
                status = self.answers[min(len(self.got), len(self.answers)) - 1]
            if self.delay:
                await anyio.sleep(self.delay)
            headers = {"Location": location} if location else None
            return PlainTextResponse("", status_code=status, headers=headers)

        app = Starlette(routes=[Route("/backchannel", receive, methods=["POST"])])
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)

    @property
    def tokens(self) -> list[str]:
        with self._lock:
            return [r.token for r in self.got]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Listener:
    """A bare TCP socket on loopback that counts the connections it is offered, whatever
    they carry (TLS or not): to prove that nothing was sent somewhere."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
