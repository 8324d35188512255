"""Request bodies over 64 KiB (10 MiB for the console's CSV upload) get 413, by their
declared length at once and by counting a chunked body as it arrives (a real uvicorn on a
loopback port, a raw socket, so that the body is really streamed and never ends)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from helpers import csrf_from, sign_in
from idp.services import accounts
from idp.web.body_limit import FORM_LIMIT, UPLOAD_LIMIT
from oauth_support import free_port

ADMIN_PASSWORD = "un admin bien gardé ici"


@pytest.fixture
def live(app) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """The app behind uvicorn; its port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def test_a_declared_length_over_the_limit_is_refused_before_reading(client, school):
    body = b"grant_type=client_credentials&x=" + b"a" * FORM_LIMIT
    token = client.post(
        f"/{school}/oidc/token",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert token.status_code == 413
    assert token.headers["content-type"] == "application/json"
    assert token.json()["error"] == "invalid_request"
    assert token.headers["cache-control"] == "no-store"

    page = client.post(
        f"/{school}/login",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert page.status_code == 413
    assert page.headers["content-type"].startswith("text/html")
    assert "Les données envoyées sont trop volumineuses : 64 Ko au plus." in page.text
    assert page.headers["content-security-policy"]  # the security headers are still there


def test_a_body_at_the_limit_is_read(client, school):
    body = b"grant_type=client_credentials&x="
    body += b"a" * (FORM_LIMIT - len(body))
    response = client.post(
        f"/{school}/oidc/token",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 401  # read, and answered for what it says: no client
    assert response.json()["error"] == "invalid_client"


def _chunked_request(port: int, path: str, chunks: int, *, end: bool) -> bytes:
    """POST `chunks` chunks of 8 KiB, with the closing chunk or not; the server's answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        s.sendall(b"2000\r\nx=" + b"a" * (8192 - 2) + b"\r\n")
        for _ in range(chunks - 1):
            s.sendall(b"2000\r\n" + b"a" * 8192 + b"\r\n")
        if end:
            s.sendall(b"0\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < _expected_length(answer):
            data = s.recv(65536)
            if not data:
                break
            answer += data
        return answer


def _expected_length(answer: bytes) -> int:
    head, _, _ = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return 0


def test_an_endless_chunked_body_is_refused_once_past_the_limit(live, school):
    # 80 KiB and no closing chunk: a server that read the body to its end would never
    # answer (the socket's 10 s timeout would fail the test).
    answer = _chunked_request(live, f"/{school}/oidc/token", chunks=10, end=False)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    answer = _chunked_request(live, f"/{school}/password/forgot", chunks=10, end=False)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_a_small_chunked_body_is_read(live, school):
    answer = _chunked_request(live, f"/{school}/oidc/token", chunks=2, end=True)
    # Read to its end, and answered for what it says: it names no grant type.
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert answer.endswith(b'{"error":"unsupported_grant_type"}')


@pytest.fixture
def admin_client(client, rt, school):  # type: ignore[no-untyped-def]
    rt.run(accounts.set_password, school, "0750655e", ADMIN_PASSWORD, temporary=False)
    assert sign_in(client, school, "0750655E", ADMIN_PASSWORD).status_code == 303
    return client


def test_the_csv_import_takes_up_to_ten_megabytes(admin_client, school):
    token = csrf_from(admin_client.get(f"/{school}/admin/import").text)
    # A file well over the forms' 64 KiB is read (and judged for what it holds).
    big = b"nom;prenom;date_naissance\n" + b"Martin;Lea;14/03/2009\n" * 20_000
    assert FORM_LIMIT < len(big) < UPLOAD_LIMIT
    read = admin_client.post(
        f"/{school}/admin/import",
        data={"csrf_token": token, "role": "student"},
        files={"file": ("eleves.csv", big, "text/csv")},
    )
    assert read.status_code != 413
    over = admin_client.post(
        f"/{school}/admin/import",
        data={"csrf_token": token, "role": "student"},
        files={"file": ("eleves.csv", b"a" * UPLOAD_LIMIT, "text/csv")},
    )
    assert over.status_code == 413
    assert "Le fichier envoyé est trop volumineux : 10 Mo au plus." in over.text
    # Another console form keeps the 64 KiB limit.
    other = admin_client.post(
        f"/{school}/admin/users/new",
        data={"csrf_token": token, "last_name": "a" * FORM_LIMIT},
    )
    assert other.status_code == 413
