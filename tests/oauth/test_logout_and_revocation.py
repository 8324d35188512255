"""Logout (RP-initiated and back-channel), revocation (RFC 7009), introspection (RFC 7662)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from helpers import csrf_from
from idp.models import BackchannelNotice, Token
from idp.services import accounts, clients
from idp.store import tokens as token_store
from oauth_support import REDIRECT, Receiver, callback_params, free_port, pkce


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def modules(provider, school_a, receiver):  # type: ignore[no-untyped-def]
    """Two modules of lp-a with back-channel logout; the second one without."""
    a = provider.rt.run(
        clients.add,
        school_a,
        name="C Pro STI",
        redirect_uris_=[REDIRECT],
        post_logout_redirect_uris=["https://sti.cpro.example/bye"],
        backchannel_logout_uri=receiver.url,
    )
    b = provider.rt.run(
        clients.add,
        school_a,
        name="Passeport",
        redirect_uris_=["https://passeport.cpro.example/cb"],
    )
    return a, b


def sign_in_module(provider, browser, school, client, redirect, scope="openid offline_access"):  # type: ignore[no-untyped-def]
    verifier, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": client.client.client_id,
        "redirect_uri": redirect,
        "scope": scope,
        "state": "s",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    url = f"{provider.issuer(school)}/oidc/authorize?" + httpx.QueryParams(query).__str__()
    code = callback_params(browser.go(url, login="lea.martin"))["code"]
    with httpx.Client() as http:
        token = http.post(
            f"{provider.issuer(school)}/oidc/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "code_verifier": verifier,
            },
            auth=(client.client.client_id, client.secret),
        )
    assert token.status_code == 200, token.text
    return token.json()


def userinfo_status(provider, school, access_token) -> int:  # type: ignore[no-untyped-def]
    with httpx.Client() as http:
        return http.get(
            f"{provider.issuer(school)}/oidc/userinfo",
            headers={"Authorization": f"Bearer {access_token}"},
        ).status_code


def jwks(provider, school) -> KeySet:  # type: ignore[no-untyped-def]
    with httpx.Client() as http:
        return KeySet.import_key_set(http.get(f"{provider.issuer(school)}/oidc/jwks").json())


def test_rp_initiated_logout_with_a_hint_ends_everything(
    provider, school_a, modules, browser, receiver, clock
):
    a, b = modules
    token_a = sign_in_module(provider, browser, school_a, a, REDIRECT, scope="openid")
    token_b = sign_in_module(provider, browser, school_a, b, "https://passeport.cpro.example/cb")
    id_claims = jwt.decode(token_a["id_token"], jwks(provider, school_a)).claims

    response = browser.http.get(
        f"{provider.issuer(school_a)}/oidc/logout",
        params={
            "id_token_hint": token_a["id_token"],
            "post_logout_redirect_uri": "https://sti.cpro.example/bye",
            "state": "xyz",
        },
    )
    assert response.status_code == 302
    assert response.headers["location"] == "https://sti.cpro.example/bye?state=xyz"
    # The session's tokens are revoked; an offline_access grant outlives the session (it
    # ends with a password change or a reset).
    assert userinfo_status(provider, school_a, token_a["access_token"]) == 401
    with httpx.Client() as http:
        refreshed = http.post(
            f"{provider.issuer(school_a)}/oidc/token",
            data={"grant_type": "refresh_token", "refresh_token": token_b["refresh_token"]},
            auth=(b.client.client_id, b.secret),
        )
    assert refreshed.status_code == 200, refreshed.text
    # The next authorization asks for the password again.
    _verifier, challenge = pkce()
    again = browser.http.get(
        f"{provider.issuer(school_a)}/oidc/authorize",
        params={
            "response_type": "code",
            "client_id": a.client.client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert again.status_code == 303 and "/login?" in again.headers["location"]

    assert provider.rt.logout.drain() == 1  # module b registered no back-channel URI
    [logout_token] = receiver.tokens
    decoded = jwt.decode(logout_token, jwks(provider, school_a))
    assert decoded.header["typ"] == "logout+jwt"
    claims = decoded.claims
    assert claims["iss"] == provider.issuer(school_a)
    assert claims["aud"] == a.client.client_id
    assert claims["sub"] == id_claims["sub"]
    assert claims["sid"] == id_claims["sid"]
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in claims and claims["jti"]
    assert claims["iat"] == int(clock.now().timestamp())


def test_logout_without_a_hint_asks_the_user(provider, school_a, modules, browser):
    a, _ = modules
    token = sign_in_module(provider, browser, school_a, a, REDIRECT, scope="openid")
    page = browser.http.get(
        f"{provider.issuer(school_a)}/oidc/logout",
        params={
            "client_id": a.client.client_id,
            "post_logout_redirect_uri": "https://sti.cpro.example/bye",
            "state": "s1",
        },
    )
    assert page.status_code == 200
    assert (
        'name="decision" value="logout"' in page.text
        and 'name="decision" value="cancel"' in page.text
    )
    assert userinfo_status(provider, school_a, token["access_token"]) == 200
    # Cancel keeps the session.
    cancel = browser.http.post(
        f"{provider.issuer(school_a)}/oidc/logout",
        data={
            "csrf_token": csrf_from(page.text),
            "decision": "cancel",
            "client_id": a.client.client_id,
        },
    )
    assert cancel.status_code == 303
    assert userinfo_status(provider, school_a, token["access_token"]) == 200
    # A forged confirmation is refused.
    forged = browser.http.post(
        f"{provider.issuer(school_a)}/oidc/logout", data={"csrf_token": "x", "decision": "logout"}
    )
    assert forged.status_code == 200 and "La page a expiré" in forged.text
    assert userinfo_status(provider, school_a, token["access_token"]) == 200
    done = browser.http.post(
        f"{provider.issuer(school_a)}/oidc/logout",
        data={
            "csrf_token": csrf_from(page.text),
            "decision": "logout",
            "client_id": a.client.client_id,
            "post_logout_redirect_uri": "https://sti.cpro.example/bye",
            "state": "s1",
        },
    )
    assert done.status_code == 302
    assert done.headers["location"] == "https://sti.cpro.example/bye?state=s1"
    assert userinfo_status(provider, school_a, token["access_token"]) == 401


def test_an_unregistered_post_logout_uri_is_never_followed(provider, school_a, modules, browser):
    a, _ = modules
    token = sign_in_module(provider, browser, school_a, a, REDIRECT)
    response = browser.http.get(
        f"{provider.issuer(school_a)}/oidc/logout",
        params={
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": "https://evil.example/",
        },
    )
    assert response.status_code == 200
    assert "Vous êtes déconnecté" in response.text


def test_a_password_change_revokes_offline_tokens_and_tells_modules(
    provider, school_a, modules, browser, receiver
):
    a, _ = modules
    token = sign_in_module(provider, browser, school_a, a, REDIRECT)
    assert "refresh_token" in token
    provider.rt.run(
        accounts.set_password,
        school_a,
        "lea.martin",
        "une toute autre phrase secrète",
        temporary=False,
    )
    assert provider.rt.logout.drain() == 1
    assert len(receiver.tokens) == 1
    with httpx.Client() as http:
        refreshed = http.post(
            f"{provider.issuer(school_a)}/oidc/token",
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=(a.client.client_id, a.secret),
        )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_a_module_that_is_down_does_not_hold_the_user_back(
    provider, school_a, browser, receiver, clock
):
    down = provider.rt.run(
        clients.add,
        school_a,
        name="Down",
        redirect_uris_=[REDIRECT],
        backchannel_logout_uri=f"http://127.0.0.1:{free_port()}/nobody-listens",
    )
    sign_in_module(provider, browser, school_a, down, REDIRECT)
    page = browser.http.get(f"{provider.issuer(school_a)}/logout")
    response = browser.http.post(
        f"{provider.issuer(school_a)}/logout", data={"csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 303
    # Nothing raised: the failure is recorded, and the notice waits for its next attempt.
    assert provider.rt.logout.drain() == 1
    with provider.rt.database.session() as session:
        [row] = session.scalars(select(BackchannelNotice)).all()
    assert row.attempts == 1 and row.last_error == "ConnectError"
    assert row.next_attempt_at == clock.now() + timedelta(seconds=1)


def test_revocation(provider, school_a, modules, browser):
    a, b = modules
    token = sign_in_module(provider, browser, school_a, a, REDIRECT)
    endpoint = f"{provider.issuer(school_a)}/oidc/revoke"
    with httpx.Client() as http:
        # Another client's attempt is refused (RFC 7009 §2.1) and revokes nothing, whichever
        # of the two tokens it presents.
        for presented in (token["access_token"], token["refresh_token"]):
            other = http.post(
                endpoint, data={"token": presented}, auth=(b.client.client_id, b.secret)
            )
            assert other.status_code == 400
            assert other.json()["error"] == "unauthorized_client"
        assert userinfo_status(provider, school_a, token["access_token"]) == 200
        # The hint is only a hint: an access token sent as a refresh token is still revoked.
        mine = http.post(
            endpoint,
            data={"token": token["access_token"], "token_type_hint": "refresh_token"},
            auth=(a.client.client_id, a.secret),
        )
        assert mine.status_code == 200
        assert userinfo_status(provider, school_a, token["access_token"]) == 401
        # Revoking a refresh token ends its grant.
        fresh = sign_in_module(provider, browser, school_a, a, REDIRECT)
        http.post(
            endpoint,
            data={"token": fresh["refresh_token"], "token_type_hint": "refresh_token"},
            auth=(a.client.client_id, a.secret),
        )
        assert userinfo_status(provider, school_a, fresh["access_token"]) == 401
        # A refresh token sent as an access token, with the hint wrong the other way.
        third = sign_in_module(provider, browser, school_a, a, REDIRECT)
        answer = http.post(
            endpoint,
            data={"token": third["refresh_token"], "token_type_hint": "access_token"},
            auth=(a.client.client_id, a.secret),
        )
        assert answer.status_code == 200
        assert userinfo_status(provider, school_a, third["access_token"]) == 401
        unknown = http.post(
            endpoint, data={"token": "nonsense"}, auth=(a.client.client_id, a.secret)
        )
        assert unknown.status_code == 200
        # A hint the server does not know is ignored (RFC 7662 §2.1), not a 401.
        odd = http.post(
            endpoint,
            data={"token": "nonsense", "token_type_hint": "id_token"},
            auth=(a.client.client_id, a.secret),
        )
        assert odd.status_code == 200
        missing = http.post(endpoint, data={}, auth=(a.client.client_id, a.secret))
        assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
        bad_client = http.post(endpoint, data={"token": "x"}, auth=(a.client.client_id, "wrong"))
        assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"


def test_introspection(provider, school_a, school_b, modules, browser):
    a, b = modules
    token = sign_in_module(provider, browser, school_a, a, REDIRECT)
    other_school = provider.rt.run(clients.add, school_b, name="B", redirect_uris_=[REDIRECT])
    with httpx.Client() as http:
        # Another module of the same school learns nothing of a token that is not its own.
        for presented in (token["access_token"], token["refresh_token"]):
            foreign = http.post(
                f"{provider.issuer(school_a)}/oidc/introspect",
                data={"token": presented},
                auth=(b.client.client_id, b.secret),
            ).json()
            assert foreign == {"active": False}
        answer = http.post(
            f"{provider.issuer(school_a)}/oidc/introspect",
            data={"token": token["access_token"], "token_type_hint": "refresh_token"},
            auth=(a.client.client_id, a.secret),
        ).json()
        assert answer["active"] is True
        assert answer["client_id"] == a.client.client_id
        assert answer["username"] == "lea.martin"
        assert answer["token_type"] == "access_token"
        assert answer["iss"] == provider.issuer(school_a)
        refresh = http.post(
            f"{provider.issuer(school_a)}/oidc/introspect",
            data={"token": token["refresh_token"], "token_type_hint": "refresh_token"},
            auth=(a.client.client_id, a.secret),
        ).json()
        assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
        # A module of another establishment learns nothing, even at its own endpoint.
        elsewhere = http.post(
            f"{provider.issuer(school_b)}/oidc/introspect",
            data={"token": token["access_token"]},
            auth=(other_school.client.client_id, other_school.secret),
        ).json()
        assert elsewhere == {"active": False}
        crossing = http.post(
            f"{provider.issuer(school_a)}/oidc/introspect",
            data={"token": token["access_token"]},
            auth=(other_school.client.client_id, other_school.secret),
        )
        assert crossing.status_code == 401
        http.post(
            f"{provider.issuer(school_a)}/oidc/revoke",
            data={"token": token["access_token"]},
            auth=(a.client.client_id, a.secret),
        )
        after = http.post(
            f"{provider.issuer(school_a)}/oidc/introspect",
            data={"token": token["access_token"]},
            auth=(a.client.client_id, a.secret),
        ).json()
        assert after == {"active": False}


def test_a_modules_own_token_is_introspected_revoked_and_ended_by_disabling_it(
    provider, school_a, modules, clock
):
    """client_credentials tokens have no row until revoked: introspection judges them by
    their claims and their module's state, read from the database."""
    a, b = modules
    issuer = provider.issuer(school_a)

    def own_token() -> str:
        answer = http.post(
            f"{issuer}/oidc/token",
            data={"grant_type": "client_credentials"},
            auth=(a.client.client_id, a.secret),
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]  # type: ignore[no-any-return]

    def introspect(token: str, client=a) -> dict:  # type: ignore[no-untyped-def,type-arg]
        return http.post(  # type: ignore[no-any-return]
            f"{issuer}/oidc/introspect",
            data={"token": token},
            auth=(client.client.client_id, client.secret),
        ).json()

    def revoke(token: str, client=a) -> httpx.Response:  # type: ignore[no-untyped-def]
        return http.post(
            f"{issuer}/oidc/revoke",
            data={"token": token},
            auth=(client.client.client_id, client.secret),
        )

    def stored() -> int:
        with provider.rt.database.session() as session:
            return len(session.scalars(select(Token.id)).all())

    def store(add, token: str, **values) -> None:  # type: ignore[no-untyped-def]
        """A row for `token`, written directly with `add` (a store function)."""
        claims = jwt.decode(token, jwks(provider, school_a)).claims
        with provider.rt.database.session() as session:
            view = provider.rt.directory.get(session, school_a)
            add(
                session,
                provider.rt.directory.row(session, view.id),
                client_pk=a.client.id,
                family=claims["jti"][:32],
                jti=claims["jti"],
                scope="",
                offline=False,
                created_at=clock.now(),
                access_expires_at=clock.now() + timedelta(minutes=10),
                **values,
            )

    with httpx.Client() as http:
        before = stored()
        token = own_token()
        assert stored() == before  # issuing it wrote nothing
        answer = introspect(token)
        assert answer["active"] is True
        assert answer["sub"] == answer["client_id"] == answer["aud"] == a.client.client_id
        assert answer["token_type"] == "access_token" and "username" not in answer
        assert answer["iss"] == issuer and answer["exp"] - answer["iat"] == 600
        # Another module learns nothing of it and cannot revoke it.
        assert introspect(token, b) == {"active": False}
        refused = revoke(token, b)
        assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
        assert introspect(token)["active"] is True
        # Its own module revokes it: stored then, revoked; revoking again changes nothing.
        assert revoke(token).status_code == 200
        assert introspect(token) == {"active": False}
        assert stored() == before + 1
        assert revoke(token).status_code == 200
        assert introspect(token) == {"active": False}
        # A revocation that finds the row already stored inserts nothing more (two at once:
        # tests/store/test_tokens.py).
        store(token_store.add_revoked, token, revoked_at=clock.now())
        assert stored() == before + 1
        # Expired, it is no longer active, and revoking it then stores nothing.
        clock.advance(seconds=601)
        assert introspect(own_token())["active"] is True
        expiring = own_token()
        clock.advance(seconds=600)
        assert introspect(expiring) == {"active": False}
        assert revoke(expiring).status_code == 200
        assert stored() == before + 1
        # A token stored before the provider stopped storing them keeps its row's state.
        kept = own_token()
        store(token_store.add, kept)
        assert introspect(kept)["active"] is True
        assert revoke(kept).status_code == 200
        assert introspect(kept) == {"active": False}
        # Disabling the module ends its tokens; enabling it again does not revive them.
        earlier = own_token()
        provider.rt.run(clients.set_enabled, school_a, a.client.client_id, False, actor="t")
        clock.advance(seconds=1)
        provider.rt.run(clients.set_enabled, school_a, a.client.client_id, True, actor="t")
        assert introspect(earlier) == {"active": False}
        assert introspect(own_token())["active"] is True


def test_discovery_names_the_new_endpoints(provider, school_a):
    with httpx.Client() as http:
        meta = http.get(f"{provider.issuer(school_a)}/.well-known/openid-configuration").json()
    assert meta["revocation_endpoint"] == f"{provider.issuer(school_a)}/oidc/revoke"
    assert meta["introspection_endpoint"] == f"{provider.issuer(school_a)}/oidc/introspect"
    assert meta["end_session_endpoint"] == f"{provider.issuer(school_a)}/oidc/logout"
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
