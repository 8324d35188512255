"""Sign-in at `/{code}/login`: the help page's form and messages, first-login password
change, SSO sessions, CSRF. Throttling has its own file."""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from html import unescape

import anyio.to_thread
import pytest
from sqlalchemy import select

from helpers import change_password, csrf_from, sign_in
from idp.accounts.roles import Role
from idp.models import AuditEvent, SsoSession, User
from idp.services import accounts

NEW = "ma tortue verte lit le journal"


@pytest.fixture
def lea(rt, school) -> str:
    rt.run(
        accounts.add,
        school,
        first_name="Léa",
        last_name="Martin",
        birth_date=date(2009, 3, 14),
        role=Role.STUDENT,
    )
    return "lea.martin"


@pytest.fixture
def paul(rt, school) -> str:
    rt.run(
        accounts.add,
        school,
        first_name="Paul",
        last_name="Durand",
        birth_date=date(1985, 9, 2),
        role=Role.TEACHER,
    )
    return "paul.durand"


def personal(rt, school, login, password=NEW):  # type: ignore[no-untyped-def]
    rt.run(accounts.set_password, school, login, password, temporary=False)


def live_sessions(rt) -> list[SsoSession]:  # type: ignore[no-untyped-def]
    with rt.database.session() as session:
        return list(session.scalars(select(SsoSession).where(SsoSession.ended_at.is_(None))))


def audit_types(rt) -> list[str]:  # type: ignore[no-untyped-def]
    with rt.database.session() as session:
        return [e.type for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


# -- the page ------------------------------------------------------------------------------


def test_login_page_is_the_help_pages_form(client, school):
    page = client.get(f"/{school}/login")
    assert page.status_code == 200
    html = page.text
    # The establishment's name stands above the form.
    assert html.index("Lycée professionnel A") < html.index("<form")
    assert "<h1>Authentification</h1>" in html
    assert re.search(
        r'<label for="login">Identifiant</label>\s*<input type="text" id="login"', html
    )
    assert re.search(
        r'<label for="password">Mot de passe</label>\s*<input type="password" id="password"', html
    )
    assert "Mot de passe en clair" in html
    assert f'<a href="/{school}/password/forgot">Mot de passe oublié ?</a>' in html
    assert '<button type="submit">SE CONNECTER</button>' in html
    # The show-password behaviour is an external script; no inline script anywhere.
    assert '<script src="/static/js/show-password.js" defer></script>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"<[^>]+\son\w+=", html)  # no inline event handler either
    assert page.headers["cache-control"] == "no-store"
    assert "unsafe-inline" not in page.headers["content-security-policy"]


def test_show_password_script_is_served(client):
    script = client.get("/static/js/show-password.js")
    assert script.status_code == 200
    assert "data-show-password-for" in script.text


def test_unknown_login_message_and_hint(client, school):
    page = sign_in(client, school, "nobody.here", "whatever")
    assert page.status_code == 200
    assert "Authentification incorrecte : login inconnu" in page.text
    assert "page d'un autre établissement" in unescape(page.text)
    assert 'value="nobody.here"' in page.text


def test_wrong_password_message_keeps_login_not_password(client, school, lea):
    page = sign_in(client, school, "lea.martin", "01012000")
    assert "Authentification incorrecte : mot de passe non valide." in page.text
    assert "login inconnu" not in page.text
    assert 'value="lea.martin"' in page.text
    assert "01012000" not in page.text
    assert 'id="password" name="password" autocomplete="current-password" required' in page.text


@pytest.mark.parametrize("typed", ["LEA.MARTIN", "  lea.martin  ", "Léa.Martin", "LÉA.MARTIN\t"])
def test_typed_login_is_normalised(client, school, lea, typed):
    response = sign_in(client, school, typed, "14032009")
    assert response.status_code == 303
    assert response.headers["location"] == f"/{school}/password/change"


def test_login_hint_prefills_the_login(client, school):
    assert 'value="lea.martin"' in client.get(f"/{school}/login?login_hint=lea.martin").text


# -- first sign-in ---------------------------------------------------------------------------


def test_student_first_login_forces_a_change_and_opens_no_session(client, school, lea, rt):
    response = sign_in(client, school, "lea.martin", "14032009")
    assert response.status_code == 303
    assert response.headers["location"] == f"/{school}/password/change"
    assert "cpro-lp-a" not in response.cookies
    assert live_sessions(rt) == []
    # Not signed in: the account page still sends to the login page.
    assert client.get(f"/{school}").headers["location"] == f"/{school}/login"
    page = client.get(f"/{school}/password/change")
    assert "Choisissez votre mot de passe" in page.text
    assert 'name="current_password"' not in page.text
    assert 'name="new_password"' in page.text and 'name="new_password_confirmation"' in page.text


def test_teacher_initial_password_is_iso_date(client, school, paul):
    assert "non valide" in sign_in(client, school, "paul.durand", "02091985").text
    response = sign_in(client, school, "paul.durand", "1985-09-02")
    assert response.headers["location"] == f"/{school}/password/change"


def test_student_initial_password_is_jjmmaaaa_only(client, school, lea):
    assert "non valide" in sign_in(client, school, "lea.martin", "2009-03-14").text


def test_admin_generated_password_forces_a_change(client, school, rt):
    rt.run(accounts.set_password, school, "0750655e", "Xk7p-Qm3z-Hd9w", temporary=True)
    response = sign_in(client, school, "0750655E", "Xk7p-Qm3z-Hd9w")
    assert response.headers["location"] == f"/{school}/password/change"
    # Choosing the same password again is refused, in either of its forms.
    for same in ("Xk7p-Qm3z-Hd9w", "Xk7pQm3zHd9w"):
        page = change_password(client, school, same)
        assert "différent de l'ancien" in unescape(page.text), same


@pytest.mark.parametrize("typed", ["Xk7pQm3zHd9w", "Xk7p Qm3z Hd9w", " Xk7p-Qm3z-Hd9w "])
def test_a_generated_password_counts_without_its_hyphens(client, school, rt, typed):
    rt.run(accounts.set_password, school, "0750655e", "Xk7p-Qm3z-Hd9w", temporary=True)
    response = sign_in(client, school, "0750655E", typed)
    assert response.headers["location"] == f"/{school}/password/change"


def test_a_personal_password_is_taken_as_typed(client, school, lea, rt):
    # The shape of a generated password, chosen as a personal one: its hyphens count.
    personal(rt, school, "lea.martin", "Xk7p-Qm3z-Hd9w-Lu5v")
    assert "non valide" in sign_in(client, school, "lea.martin", "Xk7pQm3zHd9wLu5v").text
    personal(rt, school, "lea.martin", "Xk7pQm3zHd9w")
    assert "non valide" in sign_in(client, school, "lea.martin", "Xk7p-Qm3z-Hd9w").text
    assert sign_in(client, school, "lea.martin", "Xk7pQm3zHd9w").status_code == 303


# -- empty fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("login", "password", "said", "not_said"),
    [
        ("", "", ["Saisissez votre identifiant", "Saisissez votre mot de passe"], []),
        ("   ", "14032009", ["Saisissez votre identifiant"], ["Saisissez votre mot de passe"]),
        ("lea.martin", "", ["Saisissez votre mot de passe"], ["Saisissez votre identifiant"]),
    ],
)
def test_an_empty_field_is_named_and_not_counted(
    client, school, lea, rt, login, password, said, not_said
):
    for _ in range(12):  # more than any throttle allows failures
        page = sign_in(client, school, login, password)
        assert page.status_code == 200
    html = page.text
    for text in said:
        assert text in html
    for text in not_said:
        assert text not in html
    # Neither help-page message, nor its hint: nothing was checked.
    assert "Authentification incorrecte" not in html
    assert "date de naissance" not in unescape(html)
    if "Saisissez votre identifiant" in said:
        assert re.search(
            r'id="login"[^>]*aria-invalid="true" aria-describedby="login-missing"[^>]*autofocus',
            html,
        )
        assert '<p class="field-error" id="login-missing">' in html
    if "Saisissez votre mot de passe" in said:
        assert re.search(
            r'id="password"[^>]*aria-invalid="true" aria-describedby="password-missing"', html
        )
    assert "login.failure" not in audit_types(rt)  # no failure recorded, nothing throttled
    assert sign_in(client, school, "lea.martin", "14032009").status_code == 303


def test_each_failure_is_tied_to_its_field(client, school, lea):
    unknown = sign_in(client, school, "nobody.here", "x").text
    assert re.search(r'id="login"[^>]*aria-invalid="true" aria-describedby="login-error"', unknown)
    assert not re.search(r'id="password"[^>]*aria-invalid', unknown)
    wrong = sign_in(client, school, "lea.martin", "01012000").text
    assert re.search(
        r'id="password"[^>]*aria-invalid="true" aria-describedby="login-error"[^>]*autofocus',
        wrong,
    )
    assert not re.search(r'id="login"[^>]*aria-invalid', wrong)


def test_full_first_login_then_sign_in_again_completes_next(client, school, lea, rt):
    target = f"/{school}/admin/users?q=x"
    response = sign_in(client, school, "lea.martin", "14032009", next_url=target)
    assert response.headers["location"] == f"/{school}/password/change"
    done = change_password(client, school, NEW)
    assert done.status_code == 303
    assert done.headers["location"] == (
        f"/{school}/login?changed=1&login_hint=lea.martin&next=%2F{school}%2Fadmin%2Fusers%3Fq%3Dx"
    )
    assert live_sessions(rt) == []  # the help page: sign in again with the new password
    login_page = client.get(done.headers["location"])
    # Good news in the success style, the login filled in, the focus on the password.
    assert re.search(
        r'<p class="success" role="status">Votre nouveau mot de passe est enregistré',
        login_page.text,
    )
    assert re.search(r'id="password"[^>]*autofocus', login_page.text)
    assert f'name="next" value="{target}"' in login_page.text
    assert 'value="lea.martin"' in login_page.text  # no need to type the login again
    # The birth date stops working; the new password completes the pending request.
    assert "non valide" in sign_in(client, school, "lea.martin", "14032009").text
    again = sign_in(client, school, "lea.martin", NEW, next_url=target)
    assert again.status_code == 303
    assert again.headers["location"] == target
    assert len(live_sessions(rt)) == 1
    assert "password.changed" in audit_types(rt)


@pytest.mark.parametrize(
    ("new", "confirmation", "expected"),
    [
        ("court", None, "trop court"),
        ("x" * 129, None, "trop long"),
        (NEW, NEW + "!", "pas identiques"),
        ("lea martin aime les frites", None, "identifiant, votre prénom ni votre nom"),
        ("martin-dans-la-forêt-verte", None, "identifiant, votre prénom ni votre nom"),
        ("né le 14/03/2009 à Lyon", None, "date de naissance"),
        ("2009-03-14 cheval rouge", None, "date de naissance"),
        ("azertyuiop", None, "plus utilisés"),
        ("Mon vélo rouge grimpe la colline", None, "donnée en exemple"),
        ("motdepasse", None, "plus utilisés"),
        ("abcdefgh12", None, "trop facile à deviner"),
    ],
)
def test_forced_change_refuses_with_a_reason(client, school, lea, rt, new, confirmation, expected):
    sign_in(client, school, "lea.martin", "14032009")
    page = change_password(client, school, new, confirmation)
    assert page.status_code == 200
    assert expected in unescape(page.text)
    # How to make a passphrase, with no example a class could copy.
    assert "quatre ou cinq mots qui n'ont de sens que pour vous" in unescape(page.text)
    assert "mon vélo rouge" not in page.text
    with rt.database.session() as session:
        assert session.scalar(select(User.password_hash).where(User.login == "lea.martin")) is None


def test_passphrases_with_spaces_are_accepted(client, school, lea):
    sign_in(client, school, "lea.martin", "14032009")
    assert change_password(client, school, "le chat de la voisine danse").status_code == 303


def test_change_page_without_ticket_or_session_sends_to_login(client, school):
    response = client.get(f"/{school}/password/change")
    assert response.headers["location"] == f"/{school}/login"


def test_change_ticket_expires(client, school, lea, clock):
    sign_in(client, school, "lea.martin", "14032009")
    page = client.get(f"/{school}/password/change")
    clock.advance(minutes=16)
    response = client.post(
        f"/{school}/password/change",
        data={
            "csrf_token": csrf_from(page.text),
            "new_password": NEW,
            "new_password_confirmation": NEW,
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/{school}/login"


def test_a_ticket_is_useless_once_the_password_changed(client, school, lea, rt):
    sign_in(client, school, "lea.martin", "14032009")
    ticket_cookie = client.cookies.get("cpro_change.lp-a")
    change_password(client, school, NEW)
    # Replaying the old ticket cannot set another password.
    client.cookies.set("cpro_change.lp-a", ticket_cookie)
    page = client.get(f"/{school}/password/change")
    response = client.post(
        f"/{school}/password/change",
        data={
            "csrf_token": csrf_from(page.text),
            "new_password": "une autre phrase bien longue",
            "new_password_confirmation": "une autre phrase bien longue",
        },
    )
    assert response.headers["location"] == f"/{school}/login"
    assert sign_in(client, school, "lea.martin", NEW).status_code == 303


# -- sessions ------------------------------------------------------------------------------


def test_sign_in_opens_a_session_with_a_strict_cookie(client, school, lea, rt):
    personal(rt, school, "lea.martin")
    response = sign_in(client, school, "lea.martin", NEW)
    assert response.status_code == 303
    assert response.headers["location"] == f"/{school}"
    set_cookies = response.headers.get_list("set-cookie")
    [session_cookie] = [c for c in set_cookies if c.startswith("cpro-lp-a=")]
    attributes = session_cookie.lower()
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert "secure" not in attributes  # http base URL
    account = client.get(f"/{school}")
    assert account.status_code == 200
    assert "Léa Martin" in account.text and "lea.martin" in account.text
    assert "Lycée professionnel A" in account.text
    [row] = live_sessions(rt)
    assert row.ip == "198.51.100.7"
    # The cookie holds a signed token, and the database only its hash.
    assert row.token_hash not in client.cookies.get("cpro-lp-a")


def test_session_id_rotates_at_each_sign_in(client, school, lea, rt):
    personal(rt, school, "lea.martin")
    sign_in(client, school, "lea.martin", NEW)
    first = client.cookies.get("cpro-lp-a")
    sign_in(client, school, "lea.martin", NEW)
    assert client.cookies.get("cpro-lp-a") != first
    assert len(live_sessions(rt)) == 1
    client.cookies.clear()
    client.cookies.set("cpro-lp-a", first)
    assert client.get(f"/{school}").status_code == 303


def test_cookies_under_https_use_the_host_prefix(settings, rt, school, lea):
    from starlette.testclient import TestClient

    from idp.app import create_app
    from idp.settings import Settings

    personal(rt, school, "lea.martin")
    https = Settings(**{**settings.__dict__, "base_url": "https://connect.cpro.example"})
    with TestClient(
        create_app(https, runtime=rt),
        base_url="https://connect.cpro.example",
        follow_redirects=False,
    ) as c:
        response = sign_in(c, school, "lea.martin", NEW)
        cookies = response.headers.get_list("set-cookie")
    [session_cookie] = [x for x in cookies if x.startswith("__Host-cpro-lp-a=")]
    assert "secure" in session_cookie.lower() and "domain" not in session_cookie.lower()
    assert any(x.startswith("__Host-cpro_device.lp-a=") for x in cookies)


def test_logout_ends_the_session_server_side(client, school, lea, rt):
    personal(rt, school, "lea.martin")
    sign_in(client, school, "lea.martin", NEW)
    stolen = client.cookies.get("cpro-lp-a")
    confirm = client.get(f"/{school}/logout")
    assert "Voulez-vous vous déconnecter" in confirm.text
    response = client.post(f"/{school}/logout", data={"csrf_token": csrf_from(confirm.text)})
    assert response.status_code == 303
    assert response.headers["location"] == f"/{school}/login?logged_out=1"
    assert live_sessions(rt) == []
    client.cookies.set("cpro-lp-a", stolen)
    assert client.get(f"/{school}").headers["location"] == f"/{school}/login"
    assert "logout" in audit_types(rt)


def test_logout_requires_csrf(client, school, lea, rt):
    personal(rt, school, "lea.martin")
    sign_in(client, school, "lea.martin", NEW)
    response = client.post(f"/{school}/logout", data={"csrf_token": "forged"})
    assert response.status_code == 403
    assert len(live_sessions(rt)) == 1


def test_a_session_of_one_establishment_means_nothing_at_another(
    client, school, other_school, lea, rt
):
    personal(rt, school, "lea.martin")
    sign_in(client, school, "lea.martin", NEW)
    client.cookies.set("cpro-lp-b", client.cookies.get("cpro-lp-a"))
    assert client.get(f"/{other_school}").headers["location"] == f"/{other_school}/login"


def test_idle_and_absolute_lifetimes(client, school, lea, rt, clock):
    personal(rt, school, "lea.martin")
    sign_in(client, school, "lea.martin", NEW)
    # Activity every 90 minutes keeps the session alive…
    for _ in range(7):
        clock.advance(minutes=90)
        assert client.get(f"/{school}").status_code == 200
    # …until its absolute end (12 h after sign-in).
    clock.advance(minutes=90)
    assert client.get(f"/{school}").status_code == 303
    sign_in(client, school, "lea.martin", NEW)
    clock.advance(hours=2, minutes=1)
    assert client.get(f"/{school}").status_code == 303


def test_voluntary_change_needs_the_current_password_and_ends_other_sessions(
    app, client, school, lea, rt
):
    from starlette.testclient import TestClient

    personal(rt, school, "lea.martin")
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as phone:
        sign_in(phone, school, "lea.martin", NEW)
        sign_in(client, school, "lea.martin", NEW)
        assert len(live_sessions(rt)) == 2
        page = client.get(f"/{school}/password/change")
        assert 'name="current_password"' in page.text
        wrong = change_password(client, school, "une autre phrase bien longue", current="nope")
        assert "mot de passe actuel n'est pas le bon" in unescape(wrong.text)
        before = client.cookies.get("cpro-lp-a")
        done = change_password(client, school, "une autre phrase bien longue", current=NEW)
        # Then the account page says so, once: reloading it sends nothing again.
        assert done.status_code == 303 and done.headers["location"] == f"/{school}"
        account = client.get(f"/{school}")
        assert account.status_code == 200  # this session stays
        assert "Votre mot de passe a été modifié" in unescape(account.text)
        assert "Votre mot de passe a été modifié" not in client.get(f"/{school}").text
        # ... under a new id, as at sign-in: the cookie from before the change is useless.
        assert client.cookies.get("cpro-lp-a") != before
        assert len(live_sessions(rt)) == 1
        with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as thief:
            thief.cookies.set("cpro-lp-a", before)
            assert thief.get(f"/{school}").status_code == 303
        assert phone.get(f"/{school}").status_code == 303  # the other one ended
    assert sign_in(client, school, "lea.martin", "une autre phrase bien longue").status_code == 303


def test_a_temporary_password_sent_during_a_change_stops_working(client, school, lea, rt):  # type: ignore[no-untyped-def]
    """A temporary password sent by email while a voluntary change is being hashed (the
    forgot form, in another request) is voided by the change, as any new password voids
    one: the change reads the account again rather than write over what it held."""
    personal(rt, school, "lea.martin")
    sign_in(client, school, "lea.martin", NEW)
    client.get(f"/{school}/password/change")
    hash_async = rt.hasher.hash_async

    def send_temporary() -> None:
        with rt.database.session() as session:
            lea_row = session.scalar(select(User).where(User.login == "lea.martin"))
            lea_row.temp_password_hash = "sent meanwhile"
            lea_row.temp_password_expires_at = rt.clock.now() + timedelta(hours=1)

    async def hash_while_sent(password: str) -> str:
        other = threading.Thread(target=send_temporary)
        other.start()
        await anyio.to_thread.run_sync(other.join)
        return await hash_async(password)

    rt.hasher.hash_async = hash_while_sent  # type: ignore[method-assign]
    try:
        done = change_password(client, school, "une autre phrase bien longue", current=NEW)
    finally:
        rt.hasher.hash_async = hash_async  # type: ignore[method-assign]
    assert done.status_code == 303
    with rt.database.session() as session:
        lea_row = session.scalar(select(User).where(User.login == "lea.martin"))
        assert lea_row.temp_password_hash is None


def test_deactivated_account_cannot_sign_in(client, school, lea, rt):
    personal(rt, school, "lea.martin")
    with rt.database.session() as session:
        session.scalar(select(User).where(User.login == "lea.martin")).active = False
    page = sign_in(client, school, "lea.martin", NEW)
    assert "Ce compte est désactivé" in page.text
    assert live_sessions(rt) == []


# -- CSRF ----------------------------------------------------------------------------------


def test_login_without_csrf_is_refused_and_shown_again(client, school, lea, rt):
    client.get(f"/{school}/login")
    response = client.post(
        f"/{school}/login", data={"login": "lea.martin", "password": "14032009", "csrf_token": "x"}
    )
    assert response.status_code == 403
    assert "La page a expiré, veuillez réessayer." in response.text
    assert 'value="lea.martin"' in response.text
    assert audit_types(rt).count("login.failure") == 0


def test_expired_login_page_is_shown_again_keeping_next(client, school, lea, clock):
    page = client.get(f"/{school}/login?next=/{school}/oidc/authorize%3Fclient_id%3Dx")
    clock.advance(days=3)  # left open over the weekend
    response = client.post(
        f"/{school}/login",
        data={
            "csrf_token": csrf_from(page.text),
            "login": "lea.martin",
            "password": "14032009",
            "next": f"/{school}/oidc/authorize?client_id=x",
        },
    )
    assert response.status_code == 200
    assert "La page a expiré, veuillez réessayer." in response.text
    assert f'name="next" value="/{school}/oidc/authorize?client_id=x"' in response.text
    # Submitting the fresh form works.
    again = client.post(
        f"/{school}/login",
        data={
            "csrf_token": csrf_from(response.text),
            "login": "lea.martin",
            "password": "14032009",
            "next": f"/{school}/oidc/authorize?client_id=x",
        },
    )
    assert again.status_code == 303


def test_csrf_token_of_another_browser_is_refused(app, client, school, lea):
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as other:
        token = csrf_from(other.get(f"/{school}/login").text)
    client.get(f"/{school}/login")
    response = client.post(
        f"/{school}/login",
        data={"csrf_token": token, "login": "lea.martin", "password": "14032009"},
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/lp-b/login",
        "/lp-a\\@evil",
        "javascript:alert(1)",
    ],
)
def test_next_never_leaves_the_establishment(client, school, lea, rt, target):
    personal(rt, school, "lea.martin")
    response = sign_in(client, school, "lea.martin", NEW, next_url=target)
    assert response.headers["location"] == f"/{school}"


# -- audit ---------------------------------------------------------------------------------


def test_audit_records_sign_ins_without_passwords(client, school, lea, rt):
    sign_in(client, school, "nobody", "secret-guess-1")
    sign_in(client, school, "lea.martin", "secret-guess-2")
    sign_in(client, school, "lea.martin", "14032009")
    change_password(client, school, NEW)
    sign_in(client, school, "lea.martin", NEW)
    with rt.database.session() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    failures = [e for e in events if e.type == "login.failure"]
    assert [(e.subject, e.details["reason"], e.ip) for e in failures] == [
        ("nobody", "unknown_login", "198.51.100.7"),
        ("lea.martin", "bad_password", "198.51.100.7"),
    ]
    types = [e.type for e in events]
    assert types.index("login.password_change_required") < types.index("password.changed")
    assert types[-1] == "login.success"
    dump = repr([(e.type, e.subject, e.details) for e in events])
    for secret in ("secret-guess-1", "secret-guess-2", "14032009", NEW):
        assert secret not in dump


def test_hash_is_upgraded_at_sign_in_when_parameters_change(settings, school, lea, rt, clock):
    from dataclasses import replace

    from starlette.testclient import TestClient

    from idp.app import create_app

    personal(rt, school, "lea.martin")
    stronger = replace(settings, argon2_memory_kib=512, argon2_time_cost=2)
    with TestClient(
        create_app(stronger, clock=clock), base_url="http://127.0.0.1:8000", follow_redirects=False
    ) as c:
        assert sign_in(c, school, "lea.martin", NEW).status_code == 303
    with rt.database.session() as session:
        stored = session.scalar(select(User.password_hash).where(User.login == "lea.martin"))
    assert "$m=512,t=2," in stored
    assert rt.hasher.verify(stored, NEW).ok


def test_a_rehash_keeps_a_generated_password_as_it_was_sent(settings, school, rt, clock):
    """Signed in without the hyphens when the hash parameters changed: the new hash is of
    the password as the email shows it, which keeps working."""
    from dataclasses import replace

    from starlette.testclient import TestClient

    from idp.app import create_app

    rt.run(accounts.set_password, school, "0750655e", "Xk7p-Qm3z-Hd9w", temporary=True)
    stronger = replace(settings, argon2_memory_kib=512, argon2_time_cost=2)
    app = create_app(stronger, clock=clock)
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as c:
        assert sign_in(c, school, "0750655E", "Xk7pQm3zHd9w").status_code == 303
    with rt.database.session() as session:
        stored = session.scalar(select(User.password_hash).where(User.login == "0750655e"))
    assert "$m=512,t=2," in stored and rt.hasher.verify(stored, "Xk7p-Qm3z-Hd9w").ok
