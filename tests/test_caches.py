"""Per-process caches across instances: a change made through one runtime (another instance,
or the CLI) reaches another runtime's caches once it checks the shared generation."""

from __future__ import annotations

from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from helpers import UAI_B
from idp.app import create_app
from idp.mail import FileMailer
from idp.runtime import build_runtime
from idp.services import clients, establishments


@pytest.fixture
def instance(settings, clock):  # type: ignore[no-untyped-def]
    """Another instance on the same database: its own runtime, caches and app."""
    made = []

    def start(cache_seconds: float) -> TestClient:
        own = replace(settings, cache_seconds=cache_seconds)
        runtime = build_runtime(own, clock=clock, mailer=FileMailer(settings.mail_dir))
        client = TestClient(create_app(own, runtime=runtime), base_url="http://127.0.0.1:8000")
        made.append((client, runtime))
        return client

    yield start
    for client, runtime in made:
        client.close()
        runtime.close()


def jwks_kids(client: TestClient, school: str) -> set[str]:
    response = client.get(f"/{school}/oidc/jwks")
    assert response.status_code == 200
    return {key["kid"] for key in response.json()["keys"]}


def test_a_disabled_establishment_is_seen_by_another_instance(rt, school, instance):
    other = instance(cache_seconds=0)
    assert other.get(f"/{school}/login").status_code == 200  # now cached there
    rt.run(establishments.set_enabled, school, False)
    assert other.get(f"/{school}/login").status_code == 403
    rt.run(establishments.set_enabled, school, True)
    assert other.get(f"/{school}/login").status_code == 200


def test_without_a_check_the_cache_would_still_hold_the_old_state(rt, school, instance):
    """The check is what makes the difference: an instance that is not due to check yet
    still serves what it cached (this bounds the staleness to IDP_CACHE_SECONDS)."""
    other = instance(cache_seconds=3600)
    assert other.get(f"/{school}/login").status_code == 200
    rt.run(establishments.set_enabled, school, False)
    assert other.get(f"/{school}/login").status_code == 200


def test_a_new_establishment_is_found_after_a_miss(rt, instance, school):
    other = instance(cache_seconds=0)
    assert other.get("/lp-b/login").status_code == 404  # the miss is cached too
    rt.run(
        establishments.create,
        code="lp-b",
        name="Lycée professionnel B",
        uai_code=UAI_B,
        email="secretariat@lp-b.example",
        send_welcome=False,
    )
    assert other.get("/lp-b/login").status_code == 200


def test_a_key_rotation_is_published_by_another_instance(rt, school, instance):
    other = instance(cache_seconds=0)
    before = jwks_kids(other, school)

    def rotate(runtime, session):  # type: ignore[no-untyped-def]
        return runtime.keys.rotate(session, establishments.get(session, school))

    new = set(rt.run(rotate))
    after = jwks_kids(other, school)
    assert new <= after and before <= after


def test_this_instance_sees_its_own_change_at_once(rt, school, app, client):
    """The instance that made the change drops its caches when the change commits, whatever
    its check interval."""
    assert client.get(f"/{school}/login").status_code == 200
    rt.run(establishments.set_enabled, school, False)
    assert client.get(f"/{school}/login").status_code == 403


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    # The fixture `rt` (the instance making changes) checks rarely: what it sees at once, it
    # sees because its own change cleared its caches.
    return replace(settings, cache_seconds=3600)


def test_a_client_changed_at_one_instance_is_seen_by_another(rt, school, instance):
    other = instance(cache_seconds=0)
    created = rt.run(clients.add, school, name="Back end", redirect_uris_=["https://m.example/cb"])
    client_id, secret = created.client.client_id, created.secret

    def token(secret: str) -> int:
        answer = other.post(
            f"/{school}/oidc/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        )
        return answer.status_code

    assert token(secret) == 200  # now cached there
    new = rt.run(clients.rotate_secret, school, client_id, actor="test")
    assert token(secret) == 401
    assert token(new) == 200
    rt.run(clients.set_enabled, school, client_id, False, actor="test")
    assert token(new) == 401
