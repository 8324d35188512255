"""Every request's id, on its response and on every line it causes; the client's scheme from
a trusted proxy; the line per request, as text and as JSON."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from ipaddress import ip_network

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from helpers import sign_in
from idp.accounts.roles import Role
from idp.app import create_app
from idp.logs import FORMAT, OneLineFormatter, WithRequest, json_formatter
from idp.services import accounts

PROXY = ("10.1.2.3", 40000)
TRUSTED = (ip_network("10.0.0.0/8"),)


@contextmanager
def captured(formatter: logging.Formatter) -> Iterator[io.StringIO]:
    """What the root logger writes at DEBUG, through the server's own filter and format."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(WithRequest())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@contextmanager
def browser(app, peer=("198.51.100.7", 50000)) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(
        app, base_url="http://127.0.0.1:8000", follow_redirects=False, client=peer
    ) as c:
        yield c


def test_each_response_says_its_own_new_id(client):
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch("[0-9a-f]{16}", first)
    assert re.fullmatch("[0-9a-f]{16}", second)
    assert first != second


def test_a_trusted_proxys_id_is_kept_and_anyone_elses_replaced(settings, rt):
    app = create_app(replace(settings, trusted_proxies=TRUSTED), runtime=rt)
    given = {"x-request-id": "7f0c2a1e-93b1-4c55-8d0e-1b2c3d4e5f60"}
    with browser(app, PROXY) as proxy, browser(app) as direct:
        assert proxy.get("/healthz", headers=given).headers["x-request-id"] == given["x-request-id"]
        assert (
            direct.get("/healthz", headers=given).headers["x-request-id"] != given["x-request-id"]
        )
        # Even a trusted proxy's id is replaced when it could break a log line or a label.
        for bad in ("a b", "x" * 129, "id\x1b[2J", ""):
            answer = proxy.get("/healthz", headers={"x-request-id": bad})
            assert re.fullmatch("[0-9a-f]{16}", answer.headers["x-request-id"]), bad


def test_every_line_a_request_causes_carries_its_id(client, school):
    with captured(OneLineFormatter(FORMAT)) as out:
        # A refused token request: its warning is written in a worker thread.
        refused = client.post(
            f"/{school}/oidc/token",
            data={"grant_type": "authorization_code", "code": "x"},
            auth=("no-such-client", "nope"),
        )
        missing = client.get(f"/{school}/admin/users/nobody.here")
        # A failed sign-in: its audit line is written in a worker thread.
        failed = sign_in(client, school, "nobody.here", "not-this-one")
        logging.getLogger("idp.test").warning("outside any request")
    assert refused.status_code == 401
    lines = out.getvalue().splitlines()
    for response in (refused, missing, failed):
        request_id = response.headers["x-request-id"]
        mine = [line for line in lines if f"request_id={request_id}" in line]
        # At least the line per request, and every one of them names the establishment.
        assert mine, lines
        assert all(f"establishment={school}" in line for line in mine)
        assert all("client=198.51.100.7" in line for line in mine)
    token_lines = [line for line in lines if refused.headers["x-request-id"] in line]
    assert any("POST /{code}/oidc/token 401" in line for line in token_lines), token_lines
    failure = [line for line in lines if failed.headers["x-request-id"] in line]
    assert any(line.startswith("INFO idp.audit: login.failure [") for line in failure), failure
    assert not any("nobody.here" in line for line in failure)  # who is the audit's to say
    # A line outside any request carries no id.
    assert lines[-1] == "WARNING idp.test: outside any request"


def test_json_lines_carry_the_request_fields(client, school):
    with captured(json_formatter()) as out:
        answer = client.get(f"/{school}/.well-known/openid-configuration")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    [line] = [r for r in records if r.get("request_id") == answer.headers["x-request-id"]]
    assert line["level"] == "INFO"
    assert line["logger"] == "idp.request"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert line["route"] == "/{code}/.well-known/openid-configuration"
    assert line["establishment"] == school
    assert line["client"] == "198.51.100.7"
    assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["time"])
    assert "GET /{code}/.well-known/openid-configuration 200" in line["event"]


def test_a_value_in_a_json_line_cannot_forge_another(client):
    with captured(json_formatter()) as out:
        logging.getLogger("idp.test").warning("on %s", '/x\n{"level": "CRITICAL"}')
    [line] = out.getvalue().splitlines()
    assert json.loads(line)["event"] == 'on /x\n{"level": "CRITICAL"}'


def test_https_behind_a_trusted_proxy(settings, rt):
    """The proxy terminates TLS and tells the scheme; a request it got over plain http goes
    to the https address, and cookies stay Secure."""
    https = replace(settings, base_url="https://connect.example", trusted_proxies=TRUSTED)
    app = create_app(https, runtime=rt)
    with browser(app, PROXY) as proxy, browser(app) as direct:
        plain = proxy.get("/healthz?x=1", headers={"x-forwarded-proto": "http"})
        assert plain.status_code == 308
        assert plain.headers["location"] == "https://connect.example/healthz?x=1"
        # The path as sent: an encoded `?` stays in the path.
        encoded = proxy.get("/a%3Fb", headers={"x-forwarded-proto": "http"})
        assert encoded.headers["location"] == "https://connect.example/a%3Fb"
        # A chain of proxies: the first one saw the client.
        chained = proxy.get("/healthz", headers={"x-forwarded-proto": "https, http"})
        assert chained.status_code == 200
        # Anyone else's word for the scheme is not taken.
        assert direct.get("/healthz", headers={"x-forwarded-proto": "http"}).status_code == 200


def test_cookies_are_secure_with_an_https_base(settings, rt, school):
    rt.run(
        accounts.add,
        school,
        first_name="Léa",
        last_name="Martin",
        birth_date=date(2009, 3, 14),
        role=Role.STUDENT,
    )
    https = replace(settings, base_url="https://connect.example", trusted_proxies=TRUSTED)
    app = create_app(https, runtime=rt)
    with TestClient(
        app, base_url="https://connect.example", follow_redirects=False, client=PROXY
    ) as proxy:
        proxy.headers["x-forwarded-proto"] = "https"
        answer = sign_in(proxy, school, "lea.martin", "14032009")
    cookies = answer.headers.get_list("set-cookie")
    assert cookies
    assert all("secure" in c.lower() for c in cookies), cookies


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_library_loggers_stay_quiet_at_debug(fmt):
    from idp import logs

    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        logs.configure("DEBUG", fmt, replace=True)
        assert logging.getLogger("sqlalchemy.engine.Engine").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("idp.request").getEffectiveLevel() == logging.DEBUG
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def test_an_unexpected_error_page_has_the_security_headers_and_the_id(settings, rt):
    """Starlette answers an unhandled error outside every middleware it holds: the
    security headers come from the outermost layer, with the id, so that page has them."""

    async def boom(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("a fault of ours")

    app = create_app(settings, runtime=rt)
    app.router.routes.insert(0, Route("/boom", boom))
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/boom")
    assert response.status_code == 500
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert re.fullmatch("[0-9a-f]{16}", response.headers["x-request-id"])
    assert "a fault of ours" not in response.text
