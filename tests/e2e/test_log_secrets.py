"""No log line carries a secret: a real `idp serve` at DEBUG, in each log format, through
the flows that handle every kind of secret (a first sign-in with the birth date and its
forced change, a wrong password, the code flow with PKCE and a client secret, userinfo, a
refresh, introspection, revocation, a forgotten password and its temporary password, the
session and CSRF cookies, a full email address); then every line it wrote is searched for
each secret it was given or gave."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from e2e.conftest import IDP, _free_port, run_command, server_env, start_server, stop_server

from helpers import UAI_A, Mailbox, text_of

SCHOOL = "lp-a"
REDIRECT = "https://sti.cpro.example/callback"
STUDENT_NEW = "ma tortue verte lit le journal"
TEACHER_NEW = "un chat roux dort sur le piano"
WRONG = "pas-le-bon-mot-de-passe-42"
TEACHER_EMAIL = "paul.durand@lp-a.example"
ADMIN_EMAIL = "secretariat@lp-a.example"
TEMPORARY = re.compile(r"^[2-9A-HJ-NP-Za-km-z]{4}-[2-9A-HJ-NP-Za-km-z]{4}-[2-9A-HJ-NP-Za-km-z]{4}$")
FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class Agent:
    """A browser that fills the provider's forms and stops at the module's callback,
    remembering every secret it handled."""

    def __init__(self, base: str, seen: set[str]) -> None:
        self.base = base
        self.http = httpx.Client(follow_redirects=False, timeout=15)
        self.seen = seen

    def form(self, page: httpx.Response, field: str) -> tuple[str, dict[str, str]]:
        for action, body in FORM.findall(page.text):
            if f'name="{field}"' in body:
                hidden = {name: html.unescape(value) for name, value in HIDDEN.findall(body)}
                self.seen.update(v for k, v in hidden.items() if k == "csrf_token")
                return urljoin(self.base, html.unescape(action)), hidden
        raise AssertionError(f"no form with {field} at {page.url}: {page.text[:300]}")

    def drive(self, url: str, login: str, passwords: list[str], new: str) -> httpx.Response:
        """From `url` to the module's callback: signs in with each password in turn (the
        first is expected to force a change to `new`)."""
        response = self.http.get(url)
        for _ in range(20):
            self.seen.update(c.value for c in self.http.cookies.jar if c.value)
            if response.is_redirect:
                location = urljoin(self.base, response.headers["location"])
                if location.startswith(REDIRECT):
                    return response
                response = self.http.get(location)
            elif 'name="new_password"' in response.text:
                action, data = self.form(response, "new_password")
                data |= {"new_password": new, "new_password_confirmation": new}
                response = self.http.post(action, data=data)
            elif 'name="password"' in response.text and passwords:
                action, data = self.form(response, "password")
                data |= {"login": login, "password": passwords.pop(0)}
                response = self.http.post(action, data=data)
            else:
                raise AssertionError(f"stuck at {response.url}: {response.text[:500]}")
        raise AssertionError("too many steps")


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_no_line_at_debug_carries_a_secret(tmp_path: Path, fmt: str) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(
        tmp_path,
        base,
        IDP_ARGON2_MEMORY_KIB="1024",
        IDP_ARGON2_TIME_COST="1",
        IDP_MAIL_BACKEND="file",
        IDP_MAIL_DIR=str(tmp_path / "mail"),
        IDP_LOG_LEVEL="DEBUG",
        IDP_LOG_FORMAT=fmt,
    )

    def idp(*args: str) -> str:
        return run_command([IDP, *args], cwd=tmp_path, env=env)

    idp("db", "upgrade")
    idp("establishment", "create", SCHOOL, "--name", "Lycée professionnel A", "--uai", UAI_A,
        "--email", ADMIN_EMAIL)  # fmt: skip
    idp("user", "add", SCHOOL, "--first-name", "Léa", "--last-name", "Martin",
        "--birth-date", "2009-03-14", "--role", "student")  # fmt: skip
    idp("user", "add", SCHOOL, "--first-name", "Paul", "--last-name", "Durand",
        "--birth-date", "1985-09-02", "--role", "teacher", "--email", TEACHER_EMAIL)  # fmt: skip
    module = json.loads(
        idp("client", "add", SCHOOL, "--name", "Module", "--redirect-uri", REDIRECT, "--json")
    )
    client_auth = (module["client_id"], module["client_secret"])
    log = tmp_path / "serve.log"
    server = start_server(
        [IDP, "serve", "--port", str(port)], cwd=tmp_path, env=env, log=log,
        health_url=f"{base}/healthz",
    )  # fmt: skip
    seen: set[str] = set()
    issuer = f"{base}/{SCHOOL}"
    try:
        # Léa: a wrong password, then her birth date, a forced change, and the code flow.
        agent = Agent(base, seen)
        verifier, challenge = pkce()
        query = httpx.QueryParams(
            response_type="code", client_id=module["client_id"], redirect_uri=REDIRECT,
            scope="openid profile email offline_access", state=secrets.token_urlsafe(12),
            nonce=secrets.token_urlsafe(12), code_challenge=challenge,
            code_challenge_method="S256",
        )  # fmt: skip
        callback = agent.drive(
            f"{issuer}/oidc/authorize?{query}",
            "lea.martin",
            [WRONG, "14032009", STUDENT_NEW],
            STUDENT_NEW,
        )
        code = parse_qs(urlsplit(callback.headers["location"]).query)["code"][0]
        with httpx.Client(timeout=15) as backend:
            tokens = backend.post(
                f"{issuer}/oidc/token",
                data={"grant_type": "authorization_code", "code": code,
                      "redirect_uri": REDIRECT, "code_verifier": verifier},
                auth=client_auth,
            ).json()  # fmt: skip
            assert "access_token" in tokens, tokens
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            assert backend.get(f"{issuer}/oidc/userinfo", headers=bearer).status_code == 200
            refreshed = backend.post(
                f"{issuer}/oidc/token",
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                auth=client_auth,
            ).json()
            assert "access_token" in refreshed, refreshed
            introspected = backend.post(
                f"{issuer}/oidc/introspect",
                data={"token": refreshed["access_token"]},
                auth=client_auth,
            ).json()
            assert introspected["active"] is True
            # A stolen refresh token used again, and a revocation.
            reused = backend.post(
                f"{issuer}/oidc/token",
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                auth=client_auth,
            )
            assert reused.status_code == 400
            backend.post(
                f"{issuer}/oidc/revoke",
                data={"token": refreshed["refresh_token"]},
                auth=client_auth,
            )
        agent.http.close()

        # Paul: a forgotten password, the temporary one it mails, and its change.
        paul = Agent(base, seen)
        page = paul.http.get(f"{issuer}/password/forgot")
        action, data = paul.form(page, "login")
        assert paul.http.post(action, data=data | {"login": "paul.durand"}).status_code == 200
        [temporary] = [
            line
            for line in text_of(Mailbox(tmp_path / "mail").last()).splitlines()
            if TEMPORARY.match(line)
        ]
        paul.drive(
            f"{issuer}/oidc/authorize?{query.set('state', 'p')}",
            "paul.durand",
            [temporary.replace("-", ""), TEACHER_NEW],
            TEACHER_NEW,
        )
        paul.http.close()
    finally:
        stop_server(server)

    secrets_used = {
        WRONG, "14032009", STUDENT_NEW, TEACHER_NEW, temporary, temporary.replace("-", ""),
        module["client_secret"], code, verifier, TEACHER_EMAIL, ADMIN_EMAIL,
        *(tokens[k] for k in ("access_token", "refresh_token", "id_token")),
        *(refreshed[k] for k in ("access_token", "refresh_token", "id_token")),
        *seen,
    }  # fmt: skip
    # A JWT's signature alone is enough to replay nothing, but its payload is the token.
    secrets_used |= {t.split(".")[1] for t in secrets_used if t.count(".") == 2}
    text = log.read_text(errors="replace")
    lines = text.splitlines()
    # The server did log: uvicorn's and ours, with the line per request at each step.
    assert len(lines) > 40, text
    assert any("/{code}/oidc/token" in line for line in lines)
    assert any("login.failure" in line for line in lines)
    if fmt == "json":
        assert all(json.loads(line)["level"] for line in lines)  # every line is one object
    leaks = sorted({s for s in secrets_used if len(s) >= 8 for line in lines if s in line})
    where = [line[:300] for line in lines if any(s in line for s in leaks)]
    assert not leaks, f"{len(leaks)} secret(s) in the log:\n" + "\n".join(where)
