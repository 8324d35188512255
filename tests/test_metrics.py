"""/metrics: who may read it, and that it counts what was just done (read back with
prometheus-client's own parser)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from ipaddress import ip_network

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from helpers import csrf_from, sign_in
from idp.accounts.roles import Role
from idp.app import create_app
from idp.runtime import build_runtime
from idp.services import accounts, clients

PERSONAL = "ma tortue verte lit le journal"
TOKEN = "scrape-me-please-0123456789"


@contextmanager
def browser(app, peer: str) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(
        app, base_url="http://127.0.0.1:8000", follow_redirects=False, client=(peer, 50000)
    ) as c:
        yield c


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, by name and labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_only_loopback_a_token_or_an_allowed_network_may_read_it(settings, rt):
    opened = replace(
        settings,
        metrics_token=TOKEN,
        metrics_allow=(ip_network("192.0.2.0/24"),),
        trusted_proxies=(ip_network("10.0.0.0/8"),),
    )
    app = create_app(opened, runtime=rt)
    with browser(app, "127.0.0.1") as local:
        assert local.get("/metrics").status_code == 200
    with browser(app, "192.0.2.9") as allowed:
        assert allowed.get("/metrics").status_code == 200
    with browser(app, "198.51.100.7") as outsider:
        assert outsider.get("/metrics").status_code == 403
        assert outsider.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 403
        scraped = outsider.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
    # Through a trusted proxy, the address it received the request from is the one judged.
    with browser(app, "10.0.0.2") as proxy:
        outside = proxy.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
        assert outside.status_code == 403
        inside = proxy.get("/metrics", headers={"X-Forwarded-For": "192.0.2.10"})
        assert inside.status_code == 200


def test_a_proxy_on_loopback_does_not_open_it_to_everyone(settings, rt):
    behind = replace(settings, trusted_proxies=(ip_network("127.0.0.0/8"),))
    app = create_app(behind, runtime=rt)
    with browser(app, "127.0.0.1") as proxy:
        assert proxy.get("/metrics", headers={"X-Forwarded-For": "203.0.113.4"}).status_code == 403
        assert proxy.get("/metrics").status_code == 200
    # Nor one that IDP_TRUSTED_PROXIES forgot to name: what it forwards is not local.
    untrusted = create_app(settings, runtime=rt)
    with browser(untrusted, "127.0.0.1") as proxy:
        assert proxy.get("/metrics", headers={"X-Forwarded-For": "203.0.113.4"}).status_code == 403
        assert proxy.get("/metrics", headers={"Forwarded": "for=203.0.113.4"}).status_code == 403
        assert proxy.get("/metrics").status_code == 200


def test_it_counts_what_was_just_done(settings, rt, app, client, school):
    rt.run(
        accounts.add,
        school,
        first_name="Paul",
        last_name="Durand",
        birth_date=date(1985, 9, 2),
        role=Role.TEACHER,
        email="paul.durand@lp-a.example",
    )
    rt.run(accounts.set_password, school, "paul.durand", PERSONAL, temporary=False)
    module = rt.run(clients.add, school, name="Module", redirect_uris_=["https://m.example/cb"])
    with browser(app, "127.0.0.1") as scraper:
        before = samples(scraper.get("/metrics").text)

        assert "non valide" in sign_in(client, school, "paul.durand", "not his").text
        assert "inconnu" in sign_in(client, school, "nobody.here", "x").text
        assert sign_in(client, school, "paul.durand", PERSONAL).status_code == 303
        for _ in range(2):
            issued = client.post(
                f"/{school}/oidc/token",
                data={"grant_type": "client_credentials"},
                auth=(module.client.client_id, module.secret),
            )
            assert issued.status_code == 200
        client.cookies.clear()
        page = client.get(f"/{school}/password/forgot")
        client.post(
            f"/{school}/password/forgot",
            data={"csrf_token": csrf_from(page.text), "login": "paul.durand"},
        )
        after = samples(scraper.get("/metrics").text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("idp_sign_ins_total", result="failure", establishment=school) == 2
    assert delta("idp_sign_ins_total", result="success", establishment=school) == 1
    assert delta("idp_audit_events_total", type="login.failure") == 2
    assert delta("idp_tokens_issued_total", grant_type="client_credentials") == 2
    assert delta("idp_mails_total", result="sent") == 1
    assert delta("idp_mails_total", result="failed") == 0
    token_route = "/{code}/oidc/token"
    assert delta("idp_http_requests_total", route=token_route, method="POST", status="200") == 2
    assert delta("idp_http_request_duration_seconds_count", route=token_route) == 2
    # The first sign-in's hash waited for nobody; each wait is observed.
    assert delta("idp_password_hash_wait_seconds_count") >= 3
    assert value(after, "idp_password_hash_queue") == 0
    # The scrape before this one was counted too, under its own route.
    assert delta("idp_http_requests_total", route="/metrics", method="GET", status="200") == 1
    # Connections are back in their pools between requests.
    assert value(after, "idp_db_connections_in_use", pool="writers") == 0


def test_labels_stay_bounded(settings, rt, client, school, app):
    with browser(app, "127.0.0.1") as scraper:
        client.request("BREW", f"/{school}/login")
        client.get(f"/{school}/no/such/page/{'x' * 50}")
        client.get(f"/{school}/admin/users/someone.particular")
        text = scraper.get("/metrics").text
    assert "someone.particular" not in text
    assert "x" * 50 not in text
    assert 'method="BREW"' not in text
    found = samples(text)
    assert value(found, "idp_http_requests_total", route="unmatched", method="GET", status="404")
    assert any(key[0] == "idp_http_requests_total" and ("method", "other") in key[1]
               for key in found)  # fmt: skip


def test_the_establishment_label_can_be_turned_off(settings, school, clock):
    network = build_runtime(replace(settings, metrics_establishments=False), clock=clock)
    try:
        app = create_app(network.settings, runtime=network)
        with browser(app, "198.51.100.7") as user, browser(app, "127.0.0.1") as scraper:
            sign_in(user, school, "nobody.here", "x")
            found = samples(scraper.get("/metrics").text)
    finally:
        network.close()
    assert value(found, "idp_sign_ins_total", result="failure", establishment="all") == 1
    assert not value(found, "idp_sign_ins_total", result="failure", establishment=school)
