"""The sign-in page a module sent someone to says which module is waiting, and offers a way
back to it: the module then gets `access_denied` (OpenID Connect Core §3.1.2.6)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

from helpers import csrf_from
from idp.services import clients

REDIRECT = "https://sti.cpro.example/cb"
PKCE = {
    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    "code_challenge_method": "S256",
}


def to_login(client, school, rt):  # type: ignore[no-untyped-def]
    module = rt.run(clients.add, school, name="C Pro STI", redirect_uris_=[REDIRECT]).client
    sent = client.get(
        f"/{school}/oidc/authorize",
        params={
            "client_id": module.client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid",
            "state": "st-1",
            "nonce": "n",
            **PKCE,
        },
    )
    assert sent.status_code == 303
    return client.get(sent.headers["location"])


def test_the_page_names_the_waiting_module_and_leads_back_to_it(client, school, rt):
    page = to_login(client, school, rt)
    assert "pour continuer vers <strong>C Pro STI</strong>" in page.text
    handle = re.search(r'name="request" value="([^"]+)"', page.text)
    assert handle is not None
    back = client.post(
        f"/{school}/oidc/authorize/cancel",
        data={"csrf_token": csrf_from(page.text), "request": handle.group(1)},
    )
    assert back.status_code in (302, 303)
    target = urlsplit(back.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == REDIRECT
    answer = parse_qs(target.query)
    assert answer["error"] == ["access_denied"] and answer["state"] == ["st-1"]
    assert answer["iss"] == [f"http://127.0.0.1:8000/{school}"]
    # Used up: neither a second tap nor a sign-in can take that request any further.
    again = client.post(
        f"/{school}/oidc/authorize/cancel",
        data={"csrf_token": csrf_from(page.text), "request": handle.group(1)},
    )
    assert again.status_code == 400
    resumed = client.get(f"/{school}/oidc/authorize/resume?request={handle.group(1)}")
    assert resumed.status_code == 400


def test_the_way_back_needs_the_pages_token(client, school, rt):
    page = to_login(client, school, rt)
    handle = re.search(r'name="request" value="([^"]+)"', page.text).group(1)
    forged = client.post(
        f"/{school}/oidc/authorize/cancel", data={"csrf_token": "forged", "request": handle}
    )
    # Back to the request, which leads to the login page again: nothing told the module.
    assert forged.status_code == 303 and "/oidc/authorize/resume" in forged.headers["location"]
    gone = client.post(
        f"/{school}/oidc/authorize/cancel",
        data={"csrf_token": csrf_from(page.text), "request": "no-such-request"},
    )
    assert gone.status_code == 400


def test_a_plain_sign_in_page_names_no_module(client, school):
    for path in (f"/{school}/login", f"/{school}/login?next=/{school}/oidc/authorize/resume"):
        page = unescape(client.get(path).text)
        assert "pour continuer vers" not in page and "sans me connecter" not in page


def test_a_module_disabled_meanwhile_is_not_named(client, school, rt):
    page = to_login(client, school, rt)
    assert "pour continuer vers" in page.text
    with rt.database.session() as session:
        from sqlalchemy import select

        from idp.models import Client

        client_id = session.scalar(select(Client.client_id).where(Client.name == "C Pro STI"))
    rt.run(clients.set_enabled, school, client_id, False, actor="0750655e")
    again = client.get(page.url)
    assert "pour continuer vers" not in again.text and "sans me connecter" not in again.text
