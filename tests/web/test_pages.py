"""The web skeleton: global pages, the establishment's address, probes, headers."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from conftest import TEST_SECRET
from idp.app import create_app
from idp.settings import Settings


def test_home_explains_each_establishment_has_its_address(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="fr">' in response.text
    assert "Chaque établissement abonné dispose de sa propre adresse" in response.text
    assert "barre d&#39;adresse" in response.text or "barre d'adresse" in response.text


def test_security_headers_on_every_page(client, school):
    for path in ("/", f"/{school}", "/nope", "/healthz", "/static/css/cpro.css"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "form-action" not in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in headers  # http base URL


def test_hsts_only_under_https(settings, rt):
    https = Settings(**{**settings.__dict__, "base_url": "https://connect.cpro.example"})
    app = create_app(https, runtime=rt)
    with TestClient(app, base_url="https://connect.cpro.example") as c:
        assert c.get("/").headers["strict-transport-security"].startswith("max-age=")


def test_establishment_address_leads_to_its_login_page_with_its_name(client, school, other_school):
    response = client.get(f"/{school}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/{school}/login"
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert "Lycée professionnel A" in page.text
    assert "Lycée professionnel B" not in page.text


def test_upper_case_code_redirects_to_lower_case(client, school):
    response = client.get("/LP-A?x=1")
    assert response.status_code == 308
    assert response.headers["location"] == "/lp-a?x=1"  # relative: never the Host header's


def test_unknown_establishment_is_a_clear_404(client):
    for path in ("/nope", "/a", "/-bad", "/x" * 50):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Aucun établissement ni aucune page ne correspond à cette adresse." in response.text


def test_unknown_upper_case_code_redirects_then_404(client):
    response = client.get("/NOPE", follow_redirects=True)
    assert response.status_code == 404
    assert response.url.path == "/nope"


def test_disabled_establishment_says_so(client, idp, school):
    assert idp("establishment", "disable", school).exit_code == 0
    for path in (f"/{school}", f"/{school}/login"):
        page = client.get(path)
        assert page.status_code == 403
        assert "est suspendu" in page.text
        assert "Lycée professionnel A" in page.text
        assert 'name="password"' not in page.text


def test_static_files(client):
    response = client.get("/static/css/cpro.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert client.get("/static/nope.css").status_code == 404


def test_healthz(client):
    response = client.get("/healthz")
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


def test_readyz_ok(client):
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok", "keys": "ok"}


def test_an_instance_with_another_secret_key_is_not_ready(settings, school, client):
    """Its keys would not open: every token it signed would fail. The load balancer must
    not send it anyone."""
    from dataclasses import replace

    assert client.get("/readyz").json()["keys"] == "ok"  # school's keys exist, and open
    other = replace(settings, secret_key="another-secret-key-of-forty-eight-characters-xx")
    with TestClient(create_app(other)) as stranger:
        response = stranger.get("/readyz")
    assert response.status_code == 503
    assert "IDP_SECRET_KEY" in response.json()["keys"]


def test_readyz_reports_a_database_without_schema(tmp_path: Path):
    settings = Settings(database_url=f"sqlite:///{tmp_path}/empty.db", secret_key=TEST_SECRET)
    with TestClient(create_app(settings)) as c:
        response = c.get("/readyz")
    assert response.status_code == 503
    assert "idp db upgrade" in response.json()["database"]


def test_readyz_reports_an_unreachable_database(tmp_path: Path):
    missing = tmp_path / "no" / "such" / "dir" / "idp.db"
    settings = Settings(database_url=f"sqlite:///{missing}", secret_key=TEST_SECRET)
    with TestClient(create_app(settings)) as c:
        response = c.get("/readyz")
        assert response.status_code == 503
        assert response.json()["database"] == "unreachable"
        # The process itself is still up.
        assert c.get("/healthz").status_code == 200


def test_english_on_request(client):
    response = client.get("/?lang=en")
    assert '<html lang="en">' in response.text
    assert "Each subscribing establishment has its own address" in response.text
