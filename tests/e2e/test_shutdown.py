"""Stopping `idp serve` (SIGTERM, as systemd and orchestrators do) lets a request in flight
finish: a pupil whose password is being checked gets the answer, not a broken page."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
from e2e.conftest import IDP, _free_port, run_command, server_env, start_server

from helpers import UAI_A, csrf_from

SCHOOL = "lp-a"


def test_a_request_in_flight_is_answered_before_the_server_stops(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # A slow hash: the sign-in is still being checked when the signal comes.
    env = server_env(
        tmp_path, base, IDP_ARGON2_MEMORY_KIB="8192", IDP_ARGON2_TIME_COST="60",
        IDP_LOG_LEVEL="INFO",
    )  # fmt: skip
    run_command([IDP, "db", "upgrade"], cwd=tmp_path, env=env)
    run_command([IDP, "establishment", "create", SCHOOL, "--name", "Lycée A", "--uai", UAI_A,
                 "--email", "secretariat@lp-a.example"], cwd=tmp_path, env=env)  # fmt: skip
    run_command([IDP, "user", "add", SCHOOL, "--first-name", "Léa", "--last-name", "Martin",
                 "--birth-date", "2009-03-14", "--role", "student"], cwd=tmp_path, env=env)  # fmt: skip
    log = tmp_path / "serve.log"
    server = start_server(
        [IDP, "serve", "--port", str(port)], cwd=tmp_path, env=env, log=log,
        health_url=f"{base}/healthz",
    )  # fmt: skip
    answers: list[httpx.Response] = []
    try:
        with httpx.Client(base_url=base, timeout=60) as browser:
            page = browser.get(f"/{SCHOOL}/login")
            form = {"csrf_token": csrf_from(page.text), "login": "lea.martin",
                    "password": "14032009"}  # fmt: skip
            started = time.monotonic()
            sign_in = threading.Thread(
                target=lambda: answers.append(browser.post(f"/{SCHOOL}/login", data=form))
            )
            sign_in.start()
            time.sleep(0.3)  # the request is in, its hash running
            server.send_signal(signal.SIGTERM)
            sign_in.join(timeout=60)
            took = time.monotonic() - started
        exit_status = server.wait(timeout=40)
    finally:
        if server.poll() is None:
            server.kill()
    assert answers, log.read_text()
    # The birth date is right: the pupil is sent on to choose a password.
    assert answers[0].status_code == 303, answers[0].text[:300]
    assert answers[0].headers["location"] == f"/{SCHOOL}/password/change"
    assert took > 0.3  # it was in flight when the signal came
    # uvicorn stops cleanly, then ends by the signal it received (which systemd counts as
    # a clean stop of a service stopped with SIGTERM).
    assert exit_status in (0, -signal.SIGTERM), exit_status
    assert "Finished server process" in log.read_text()
    # And nothing is served after the stop began.
    try:
        httpx.get(f"{base}/healthz", timeout=2)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the server still answers after stopping")
