"""Several instances on one database: two real `idp serve` processes on one PostgreSQL, with
the same IDP_BASE_URL and IDP_SECRET_KEY, behave as one provider (README, "Several
instances"). Whatever one instance does, the other one sees; a notice queued by an instance
that dies is delivered by the other."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from e2e.conftest import IDP, _free_port, run_command, start_server, stop_server
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from conftest import _truncate_postgres
from helpers import UAI_A, csrf_from
from oauth_support import Receiver, pkce

pytestmark = pytest.mark.postgres

SCHOOL = "lp-a"
REDIRECT = "https://sti.cpro.example/callback"
PASSWORD = "des nuages blancs dans le ciel"
CACHE_SECONDS = 1.0
# A change must reach the other instance within IDP_CACHE_SECONDS; the margin covers a
# loaded CI machine, not the design.
SEEN_WITHIN = CACHE_SECONDS + 4.0


@dataclass
class Instance:
    name: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def at(self, path: str) -> str:
        return f"{self.url}{path}"


@dataclass
class Cluster:
    """Two instances, A and B, and the CLI, on one database."""

    directory: Path
    env: dict[str, str]
    a: Instance
    b: Instance
    clients: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return f"{self.env['IDP_BASE_URL']}/{SCHOOL}"

    def idp(self, *args: str, stdin: str | None = None) -> str:
        return run_command([IDP, *args], cwd=self.directory, env=self.env, stdin=stdin)

    def start(self, instance: Instance) -> None:
        instance.process = start_server(
            [IDP, "serve", "--host", "127.0.0.1", "--port", str(instance.port)],
            cwd=self.directory,
            env=self.env,
            log=self.directory / f"{instance.name}.log",
            health_url=instance.at("/healthz"),
        )

    def stop(self, instance: Instance, *, kill: bool = False) -> None:
        if instance.process is not None:
            stop_server(instance.process, kill=kill)

    def add_client(self, name: str, *options: str) -> dict[str, str]:
        out = self.idp(
            "client", "add", SCHOOL, "--name", name, "--redirect-uri", REDIRECT, *options, "--json"
        )
        return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cluster(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _truncate_postgres(postgres_url)
    directory = tmp_path_factory.mktemp("instances")
    a, b = Instance("a", _free_port()), Instance("b", _free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(
        {
            "IDP_DATABASE_URL": postgres_url,
            "IDP_SECRET_KEY": secrets.token_urlsafe(48),
            # One public address for both: a load balancer would sit in front of them.
            "IDP_BASE_URL": a.url,
            "IDP_CACHE_SECONDS": str(CACHE_SECONDS),
            "IDP_ARGON2_MEMORY_KIB": "1024",
            "IDP_ARGON2_TIME_COST": "1",
            "IDP_MAIL_BACKEND": "file",
            "IDP_MAIL_DIR": str(directory / "mail"),
        }
    )
    cluster = Cluster(directory, env, a, b)
    cluster.idp(
        "establishment", "create", SCHOOL, "--name", "Lycée professionnel A", "--uai", UAI_A,
        "--email", "secretariat@lp-a.example",
    )  # fmt: skip
    for first, last in (("Léa", "Martin"), ("Hugo", "Bernard")):
        login = cluster.idp(
            "user", "add", SCHOOL, "--first-name", first, "--last-name", last,
            "--birth-date", "2009-03-14", "--role", "student",
        ).strip().splitlines()[-1]  # fmt: skip
        cluster.idp("user", "set-password", SCHOOL, login, "--password-stdin", stdin=PASSWORD)
    cluster.clients["module"] = cluster.add_client("C Pro STI")
    cluster.start(a)
    cluster.start(b)
    try:
        yield cluster
    finally:
        cluster.stop(a)
        cluster.stop(b)


class Agent:
    """A browser: one cookie jar for both instances (cookies do not depend on the port,
    as they would not behind one load balancer); follows redirects within the instance it
    was sent to, signs in when the login form shows, stops at the module's redirect URI."""

    def __init__(self) -> None:
        self.http = httpx.Client(follow_redirects=False, timeout=10)

    def close(self) -> None:
        self.http.close()

    def go(self, url: str, *, login: str | None = None) -> httpx.Response:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        response = self.http.get(url)
        for _ in range(10):
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            location = response.headers["location"]
            if location.startswith("/"):
                location = origin + location
            if not location.startswith(origin):
                return response  # to the module
            if urlsplit(location).path.endswith("/login") and login is not None:
                page = self.http.get(location)
                data = {"csrf_token": csrf_from(page.text), "login": login, "password": PASSWORD}
                data.update({k: v[0] for k, v in parse_qs(urlsplit(location).query).items()})
                data.pop("login_hint", None)
                response = self.http.post(origin + urlsplit(location).path, data=data)
                login = None
                continue
            response = self.http.get(location)
        raise AssertionError("too many redirects")

    def authorize(
        self, instance: Instance, client_id: str, *, login: str | None = "lea.martin", **extra: str
    ) -> tuple[dict[str, str], str]:
        """The module's callback parameters, and the PKCE verifier."""
        verifier, challenge = pkce()
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid offline_access",
            "state": "st",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        answer = self.go(instance.at(f"/{SCHOOL}/oidc/authorize?{urlencode(query)}"), login=login)
        assert answer.status_code == 302, (answer.status_code, answer.text[:300])
        assert answer.headers["location"].startswith(REDIRECT)
        params = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
        return params, verifier


@pytest.fixture
def agents() -> Iterator[Callable[[], Agent]]:
    made: list[Agent] = []

    def make() -> Agent:
        made.append(Agent())
        return made[-1]

    yield make
    for agent in made:
        agent.close()


def token(instance: Instance, client: dict[str, str], **data: str) -> httpx.Response:
    return httpx.post(
        instance.at(f"/{SCHOOL}/oidc/token"),
        data=data,
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )


def redeem(instance: Instance, client: dict[str, str], code: str, verifier: str) -> httpx.Response:
    return token(
        instance,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )


def userinfo(instance: Instance, access_token: str) -> httpx.Response:
    return httpx.get(
        instance.at(f"/{SCHOOL}/oidc/userinfo"),
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )


def eventually(check: Callable[[], bool], within: float) -> float:
    """How long `check` took to hold; fails if it did not within `within` seconds."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within, f"not within {within} s"
        time.sleep(0.05)
    return time.monotonic() - start


def kids(instance: Instance) -> set[str]:
    keys = httpx.get(instance.at(f"/{SCHOOL}/oidc/jwks"), timeout=10).json()["keys"]
    return {key["kid"] for key in keys}


# -- the tests -------------------------------------------------------------------------------


def test_sign_in_at_one_redeem_and_refresh_at_the_other(cluster, agents):
    module = cluster.clients["module"]
    params, verifier = agents().authorize(cluster.a, module["client_id"])
    tokens = redeem(cluster.b, module, params["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    issued = tokens.json()
    assert userinfo(cluster.a, issued["access_token"]).json()["sub"]
    refreshed = token(
        cluster.b, module, grant_type="refresh_token", refresh_token=issued["refresh_token"]
    )
    assert refreshed.status_code == 200, refreshed.text
    again = token(
        cluster.a,
        module,
        grant_type="refresh_token",
        refresh_token=refreshed.json()["refresh_token"],
    )
    assert again.status_code == 200, again.text
    # The rotated token reused at the other instance is theft there too: the family goes.
    reused = token(
        cluster.a, module, grant_type="refresh_token", refresh_token=issued["refresh_token"]
    )
    assert reused.json()["error"] == "invalid_grant"
    assert userinfo(cluster.b, again.json()["access_token"]).status_code == 401


def test_the_sso_session_works_at_both_and_a_logout_at_one_ends_it_at_both(cluster, agents):
    module = cluster.clients["module"]
    browser = agents()
    params, verifier = browser.authorize(cluster.a, module["client_id"])
    id_token = redeem(cluster.a, module, params["code"], verifier).json()["id_token"]
    # Signed in at A, known at B: no sign-in asked.
    silent, _ = browser.authorize(cluster.b, module["client_id"], login=None, prompt="none")
    assert "code" in silent, silent
    # RP-initiated logout at B ends the session A opened.
    ended = browser.http.get(
        cluster.b.at(f"/{SCHOOL}/oidc/logout?{urlencode({'id_token_hint': id_token})}")
    )
    assert ended.status_code == 200
    for instance in (cluster.a, cluster.b):
        after, _ = browser.authorize(instance, module["client_id"], login=None, prompt="none")
        assert after.get("error") == "login_required", after


def test_throttling_is_shared(cluster):
    """Five free failures for an account, wherever they happen; the sixth starts a delay
    that both instances apply."""
    statuses = []
    for i in range(7):
        instance = (cluster.a, cluster.b)[i % 2]
        with httpx.Client(timeout=10) as http:
            page = http.get(instance.at(f"/{SCHOOL}/login"))
            answer = http.post(
                instance.at(f"/{SCHOOL}/login"),
                data={
                    "csrf_token": csrf_from(page.text),
                    "login": "hugo.bernard",
                    "password": f"x{i}",
                },
            )
        statuses.append(answer.status_code)
    assert statuses[:6] == [200] * 6  # the form again, with « mot de passe non valide »
    assert statuses[6] == 429


def test_disabling_an_establishment_through_the_cli_reaches_both(cluster):
    cluster.idp("establishment", "disable", SCHOOL)
    try:
        for instance in (cluster.a, cluster.b):
            eventually(
                lambda i=instance: httpx.get(i.at(f"/{SCHOOL}/login")).status_code == 403,
                SEEN_WITHIN,
            )
    finally:
        cluster.idp("establishment", "enable", SCHOOL)
    for instance in (cluster.a, cluster.b):
        eventually(
            lambda i=instance: httpx.get(i.at(f"/{SCHOOL}/login")).status_code == 200, SEEN_WITHIN
        )


def test_a_key_rotation_is_published_by_both(cluster):
    before = kids(cluster.a)
    assert kids(cluster.b) == before  # both serve what they cached
    cluster.idp("keys", "rotate", SCHOOL)
    for instance in (cluster.a, cluster.b):
        eventually(lambda i=instance: len(kids(i) - before) == 2, SEEN_WITHIN)


def test_a_private_key_jwt_assertion_used_at_one_is_refused_at_the_other(cluster):
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"}, private=True)
    jwks_file = cluster.directory / "module-jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    client = cluster.add_client(
        "Back end", "--auth-method", "private_key_jwt", "--jwks-file", str(jwks_file)
    )
    now = int(time.time())
    claims = {
        "iss": client["client_id"],
        "sub": client["client_id"],
        "aud": f"{cluster.issuer}/oidc/token",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode({"alg": "ES256", "kid": "k1"}, claims, key)
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    first = httpx.post(cluster.a.at(f"/{SCHOOL}/oidc/token"), data=data)
    assert first.status_code == 200, first.text
    replayed = httpx.post(cluster.b.at(f"/{SCHOOL}/oidc/token"), data=data)
    assert replayed.json()["error"] == "invalid_client"


def test_one_code_redeemed_at_both_at_once_succeeds_once(cluster, agents):
    module = cluster.clients["module"]
    browser = agents()
    for _ in range(5):
        params, verifier = browser.authorize(cluster.a, module["client_id"])
        barrier = threading.Barrier(2)
        answers: list[httpx.Response] = []

        def race(  # type: ignore[no-untyped-def]
            instance: Instance, params=params, verifier=verifier, barrier=barrier, answers=answers
        ) -> None:
            barrier.wait()
            answers.append(redeem(instance, module, params["code"], verifier))

        threads = [threading.Thread(target=race, args=(i,)) for i in (cluster.a, cluster.b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 400], [a.text for a in answers]


def test_a_notice_queued_by_an_instance_that_dies_is_delivered_once_by_the_other(cluster, agents):
    """A's sender is kept busy by a slow module when A ends a second session and is killed
    right after answering: the second module's notice, committed with the session's end,
    is delivered by B, once."""
    slow, fast = Receiver(delay=30.0), Receiver()
    try:
        slow_module = cluster.add_client("Lent", "--backchannel-logout-uri", slow.url)
        fast_module = cluster.add_client("Rapide", "--backchannel-logout-uri", fast.url)
        sessions = []
        for module in (slow_module, fast_module):
            browser = agents()
            params, verifier = browser.authorize(cluster.a, module["client_id"])
            id_token = redeem(cluster.a, module, params["code"], verifier).json()["id_token"]
            sessions.append((browser, id_token))

        def logout_at_a(browser: Agent, id_token: str) -> None:
            query = urlencode({"id_token_hint": id_token})
            ended = browser.http.get(cluster.a.at(f"/{SCHOOL}/oidc/logout?{query}"))
            assert ended.status_code == 200

        logout_at_a(*sessions[0])
        eventually(lambda: len(slow.got) == 1, 10)  # A's sender is now waiting on it
        logout_at_a(*sessions[1])
        cluster.stop(cluster.a, kill=True)

        eventually(lambda: len(fast.got) >= 1, 10)
        time.sleep(2 * CACHE_SECONDS + 1)  # B's next polls deliver nothing more
        assert len(fast.got) == 1
        received = jwt.decode(fast.got[0].token, KeySet.import_key_set(
            httpx.get(cluster.b.at(f"/{SCHOOL}/oidc/jwks")).json()
        ))  # fmt: skip
        expected_sid = jwt.decode(sessions[1][1], KeySet.import_key_set(
            httpx.get(cluster.b.at(f"/{SCHOOL}/oidc/jwks")).json()
        )).claims["sid"]  # fmt: skip
        assert received.claims["sid"] == expected_sid
        assert received.claims["aud"] == fast_module["client_id"]
    finally:
        cluster.start(cluster.a)
        fast.stop()
        slow.server.should_exit = True  # its request from the dead instance is cut short
