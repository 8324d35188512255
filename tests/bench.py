"""`make bench`: how fast the provider answers, measured against a real server process on a
loopback port (never by a timed test). Prints one line per measure.

Measures: discovery and JWKS (served from memory), a password sign-in (bounded by one
argon2id hash, with the production parameters), the token endpoint (authorization_code with
PKCE), userinfo, and a bulk import of 5,000 accounts through the CLI.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

IDP = str(Path(sys.executable).with_name("idp"))
PASSWORD = "mon vélo rouge grimpe la colline"
REDIRECT = "https://bench.cpro.example/cb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(name: str, samples: list[float], unit: str = "ms") -> None:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    print(
        f"{name:<38} n={len(samples):<5} median={statistics.median(samples):8.1f} {unit}  p95={p95:8.1f} {unit}"
    )


def timed(call) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="idp-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
        "IDP_DATABASE_URL": f"sqlite:///{workdir / 'idp.db'}",
        "IDP_BASE_URL": base,
        "IDP_SECRET_KEY": secrets.token_urlsafe(48),
        "IDP_MAIL_BACKEND": "file",
        "IDP_MAIL_DIR": str(workdir / "mail"),
        "IDP_LOG_LEVEL": "WARNING",
        "IDP_THROTTLE_IP_FAILURES": "100000",
    }

    def idp(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            [IDP, *args],
            cwd=workdir,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    idp("db", "upgrade")
    idp(
        "establishment",
        "create",
        "bench",
        "--name",
        "Lycée du banc d'essai",
        "--uai",
        "0750655E",
        "--email",
        "bench@bench.example",
    )
    logins = []
    for i in range(40):
        login = (
            idp(
                "user",
                "add",
                "bench",
                "--first-name",
                f"Eleve{i}",
                "--last-name",
                "Banc",
                "--birth-date",
                "2009-01-01",
                "--role",
                "student",
            )
            .strip()
            .splitlines()[-1]
        )
        idp("user", "set-password", "bench", login, "--password-stdin", stdin=PASSWORD + "\n")
        logins.append(login)
    client = idp("client", "add", "bench", "--name", "Bench", "--redirect-uri", REDIRECT, "--json")
    client_id, client_secret = (
        re.search(rf'"{k}":"([^"]+)"', client).group(1) for k in ("client_id", "client_secret")
    )  # type: ignore[union-attr]
    server = subprocess.Popen(
        [IDP, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        issuer = f"{base}/bench"
        with httpx.Client() as http:
            http.get(f"{issuer}/.well-known/openid-configuration")
            http.get(f"{issuer}/oidc/jwks")
            report(
                "discovery",
                [
                    timed(lambda: http.get(f"{issuer}/.well-known/openid-configuration"))
                    for _ in range(300)
                ],
            )
            report("jwks", [timed(lambda: http.get(f"{issuer}/oidc/jwks")) for _ in range(300)])

        def sign_in_and_token(login: str) -> tuple[float, float, float]:
            with httpx.Client(follow_redirects=False) as http:
                verifier = secrets.token_urlsafe(48)
                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    .rstrip(b"=")
                    .decode()
                )
                r = http.get(
                    f"{issuer}/oidc/authorize",
                    params={
                        "response_type": "code",
                        "client_id": client_id,
                        "redirect_uri": REDIRECT,
                        "scope": "openid profile cpro",
                        "code_challenge": challenge,
                        "code_challenge_method": "S256",
                    },
                )
                login_url = base + r.headers["location"]
                page = http.get(login_url)
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
                nxt = parse_qs(urlsplit(login_url).query)["next"][0]
                start = time.perf_counter()
                r = http.post(
                    f"{issuer}/login",
                    data={"csrf_token": csrf, "login": login, "password": PASSWORD, "next": nxt},
                )
                signin = (time.perf_counter() - start) * 1000
                r = http.get(base + r.headers["location"])
                code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
                start = time.perf_counter()
                token = http.post(
                    f"{issuer}/oidc/token",
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": REDIRECT,
                        "code_verifier": verifier,
                    },
                    auth=(client_id, client_secret),
                ).json()
                token_ms = (time.perf_counter() - start) * 1000
                userinfo_ms = timed(
                    lambda: http.get(
                        f"{issuer}/oidc/userinfo",
                        headers={"Authorization": f"Bearer {token['access_token']}"},
                    )
                )
                return signin, token_ms, userinfo_ms

        serial = [sign_in_and_token(login) for login in logins[:10]]
        report("sign-in POST (argon2id, serial)", [s[0] for s in serial])
        report("token endpoint (code + PKCE)", [s[1] for s in serial])
        report("userinfo", [s[2] for s in serial])
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=10) as pool:
            burst = list(pool.map(sign_in_and_token, logins[10:40]))
        elapsed = time.perf_counter() - start
        report("sign-in POST (30 at once, 10 parallel)", [s[0] for s in burst])
        print(f"{'sign-in + token throughput':<38} {30 / elapsed:6.1f} users/s")
    finally:
        server.terminate()
        server.wait(timeout=10)

    lines = ["Nom;Prénom;Date de naissance;Classe"]
    lines += [
        f"Nom{i % 50};Prénom;{(date(2007, 1, 1) + timedelta(days=i)).strftime('%d/%m/%Y')};CAP{i % 20}"
        for i in range(5000)
    ]
    csv_path = workdir / "import.csv"
    csv_path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    start = time.perf_counter()
    idp("user", "import", "bench", str(csv_path))
    print(f"{'import of 5,000 accounts (CLI)':<38} {time.perf_counter() - start:6.1f} s")


if __name__ == "__main__":
    main()
