"""A real provider on a loopback port (uvicorn in a thread of the test process, so that the
frozen clock still drives it), for real relying-party code (Authlib's client)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest
import uvicorn

from idp.accounts.roles import Role
from idp.app import create_app
from idp.runtime import build_runtime
from idp.services import accounts, clients, establishments
from oauth_support import PASSWORD, REDIRECT, Browser, Provider, Registered, free_port


@pytest.fixture
def provider(settings, clock) -> Iterator[Provider]:  # type: ignore[no-untyped-def]
    port = free_port()
    live = replace(settings, base_url=f"http://127.0.0.1:{port}")
    rt = build_runtime(live, clock=clock)
    app = create_app(live, runtime=rt)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the provider did not start")
        time.sleep(0.02)
    try:
        yield Provider(live.base_url, rt)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        rt.close()


@pytest.fixture
def school_a(provider) -> str:  # type: ignore[no-untyped-def]
    provider.rt.run(
        establishments.create,
        code="lp-a",
        name="Lycée professionnel A",
        uai_code="0750655E",
        email="secretariat@lp-a.example",
        send_welcome=False,
    )
    provider.rt.run(
        accounts.add,
        "lp-a",
        first_name="Léa",
        last_name="Martin",
        birth_date=date(2009, 3, 14),
        role=Role.STUDENT,
        email="lea@lp-a.example",
        groups=["CAP-MELEC-1"],
    )
    provider.rt.run(accounts.set_password, "lp-a", "lea.martin", PASSWORD, temporary=False)
    return "lp-a"


@pytest.fixture
def school_b(provider) -> str:  # type: ignore[no-untyped-def]
    provider.rt.run(
        establishments.create,
        code="lp-b",
        name="Lycée professionnel B",
        uai_code="0999999F",
        email="secretariat@lp-b.example",
        send_welcome=False,
    )
    provider.rt.run(
        accounts.add,
        "lp-b",
        first_name="Hugo",
        last_name="Bernard",
        birth_date=date(2008, 11, 2),
        role=Role.STUDENT,
    )
    provider.rt.run(accounts.set_password, "lp-b", "hugo.bernard", PASSWORD, temporary=False)
    return "lp-b"


@pytest.fixture
def module(provider, school_a) -> Registered:  # type: ignore[no-untyped-def]
    created = provider.rt.run(
        clients.add,
        school_a,
        name="C Pro STI",
        redirect_uris_=[REDIRECT],
        post_logout_redirect_uris=["https://sti.cpro.example/"],
    )
    return Registered(created.client.client_id, created.secret)


@pytest.fixture
def browser(provider) -> Iterator[Browser]:  # type: ignore[no-untyped-def]
    b = Browser(provider)
    yield b
    b.close()


@pytest.fixture
def idp_cli(provider):  # type: ignore[no-untyped-def]
    """`idp …` in-process against the live provider's runtime."""
    from click.testing import CliRunner

    from idp.cli import cli

    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, list(args), obj=provider.rt, input=input)

    return run
