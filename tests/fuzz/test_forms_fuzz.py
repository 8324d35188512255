"""Hostile input on the pages people use: the sign-in, password and forgotten-password forms,
the teachers' page, and the admin console, with and without a valid CSRF token. Never a
5xx, never a stack trace in the log."""

from __future__ import annotations

from fuzz.conftest import World
from fuzz.hostile import BUDGET, params, urlencoded, value
from fuzz.test_protocol_fuzz import check, post_form, send
from hypothesis import given
from hypothesis import strategies as st


def csrf(world: World, who: str):  # type: ignore[no-untyped-def]
    """The browser's own token, another browser's, or garbage."""
    return st.one_of(
        st.just(world.csrf[who].encode()),
        st.sampled_from(sorted(world.csrf.values())).map(str.encode),
        value,
    )


def form_test(world: World, data: st.DataObject, who: str, path: str, keys: list[str]) -> None:
    browser = world.signed_in(who)
    pairs = data.draw(params(["csrf_token", *keys], {"csrf_token": csrf(world, who)}))
    if data.draw(st.booleans()):
        pairs.append((b"csrf_token", world.csrf[who].encode()))
    content, headers = post_form(data, pairs, {})
    check(world, send(browser, "POST", path, None, content, headers))
    check(world, send(browser, "GET", path, data.draw(params(["lang", "next", "login_hint"]))))


@BUDGET
@given(data=st.data(), who=st.sampled_from(["anonymous", "student"]))
def test_sign_in_form(world: World, data: st.DataObject, who: str) -> None:
    form_test(world, data, who, "login", ["login", "password", "next", "remember"])


@BUDGET
@given(data=st.data(), who=st.sampled_from(["anonymous", "student"]))
def test_password_change_form(world: World, data: st.DataObject, who: str) -> None:
    keys = ["new_password", "new_password_confirmation", "current_password", "ticket"]
    form_test(world, data, who, "password/change", keys)


@BUDGET
@given(data=st.data())
def test_forgotten_password_form(world: World, data: st.DataObject) -> None:
    form_test(world, data, "anonymous", "password/forgot", ["login"])


@BUDGET
@given(data=st.data(), who=st.sampled_from(["anonymous", "student", "admin"]))
def test_teachers_page_and_logout(world: World, data: st.DataObject, who: str) -> None:
    form_test(world, data, who, "students/reset", ["login"])
    check(world, send(world.signed_in(who), "GET", "students", data.draw(params(["q", "group"]))))
    # Signing out for real is left to the anonymous browser (the others' sessions are used).
    browser = world.anonymous
    pairs = data.draw(params(["csrf_token", "next"], {"csrf_token": csrf(world, "anonymous")}))
    content, headers = post_form(data, pairs, {})
    check(world, send(browser, "POST", "logout", None, content, headers))


# -- the admin console -----------------------------------------------------------------------

USER_KEYS = ["first_name", "last_name", "birth_date", "role", "email", "groups", "confirm", "login"]
CLIENT_KEYS = [
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "kind",
    "third_party",
    "id_token_alg",
    "scopes",
    "confirm",
]
SPECIAL = {
    "role": st.sampled_from([b"student", b"teacher", b"staff", b"admin", b"root"]),
    "birth_date": st.sampled_from(
        [b"2009-03-14", b"2009-02-30", b"0000-00-00", b"99999-01-01", b"14/03/2009", b"-1"]
    ),
    "kind": st.sampled_from([b"public", b"confidential"]),
    "id_token_alg": st.sampled_from([b"RS256", b"ES256", b"none", b"HS256"]),
    "scopes": st.sampled_from([b"openid", b"email", b"cpro", b"offline_access", b"admin"]),
    "redirect_uris": st.sampled_from(
        [b"https://a.example/cb\r\nhttp://[::1", b"http://x", b"https://ok.example/cb"]
    ),
    "session": st.sampled_from([b"1", b"0", b"-1", b"99999999999999999999", b"x", b"1.5"]),
}
# Logins and client ids in paths: real ones (but never the ones other browsers rely on),
# strangers, and bytes that are not a login at all.
TARGET = st.one_of(st.sampled_from([b"paul.durand", b"nobody"]), st.binary(min_size=1, max_size=30))
ACTIONS = st.one_of(
    st.sampled_from(
        [
            b"deactivate",
            b"reactivate",
            b"reset",
            b"unblock",
            b"temporary",
            b"delete",
            b"edit",
            b"disable",
            b"enable",
            b"secret",
            b"rotate",
        ]
    ),
    st.binary(min_size=1, max_size=20),
)


def segment(raw: bytes) -> str:
    return urlencoded([(raw, b"")])[:-1].decode()


@BUDGET
@given(data=st.data())
def test_console_forms(world: World, data: st.DataObject) -> None:
    who = data.draw(st.sampled_from(["admin", "admin", "admin", "student", "anonymous"]))
    target = segment(data.draw(TARGET))
    action = segment(data.draw(ACTIONS))
    path, keys = data.draw(
        st.sampled_from(
            [
                ("admin/users/new", USER_KEYS),
                (f"admin/users/{target}", USER_KEYS),
                (f"admin/users/{target}/{action}", USER_KEYS),
                ("admin/clients/new", CLIENT_KEYS),
                (f"admin/clients/{target}", CLIENT_KEYS),
                (f"admin/clients/{target}/{action}", CLIENT_KEYS),
                ("admin/sessions/end", ["session", "login"]),
                ("admin/import/confirm", ["handle", "skip_invalid", "deactivate_missing"]),
            ]
        )
    )
    browser = world.signed_in(who)
    pairs = data.draw(params(["csrf_token", *keys], {**SPECIAL, "csrf_token": csrf(world, who)}))
    if data.draw(st.booleans()):
        pairs.append((b"csrf_token", world.csrf[who].encode()))
    content, headers = post_form(data, pairs, {})
    check(world, send(browser, "POST", path, None, content, headers))
    if not path.endswith(("/end", "/confirm", action)):
        check(world, send(browser, "GET", path, data.draw(params(["q", "page"]))))
        check(world, send(browser, "GET", f"{path}/edit"))


@BUDGET
@given(data=st.data())
def test_console_pages(world: World, data: st.DataObject) -> None:
    browser = world.signed_in(data.draw(st.sampled_from(["admin", "admin", "student"])))
    path = data.draw(
        st.sampled_from(
            [
                "admin",
                "admin/users",
                "admin/clients",
                "admin/sessions",
                "admin/audit",
                "admin/audit.csv",
                "admin/import",
                "admin/import/created.csv",
            ]
        )
    )
    query = data.draw(
        params(
            [
                "q",
                "page",
                "role",
                "group",
                "status",
                "type",
                "login",
                "since",
                "until",
                "handle",
                "lang",
            ],
            {"page": st.sampled_from([b"0", b"-1", b"2", b"99999999999999999999999", b"1e3"])},
        )
    )
    check(world, send(browser, "GET", path, query))


@BUDGET
@given(data=st.data(), file=st.one_of(value, st.binary(max_size=2000)))
def test_csv_import_upload(world: World, data: st.DataObject, file: bytes) -> None:
    browser = world.signed_in("admin")
    boundary = b"fuzzboundary"
    fields = data.draw(
        params(
            ["role", "csrf_token"], {"role": SPECIAL["role"], "csrf_token": csrf(world, "admin")}
        )
    )
    if data.draw(st.booleans()):
        fields.append((b"csrf_token", world.csrf["admin"].encode()))
    filename = data.draw(st.one_of(st.just(b"eleves.csv"), value)).replace(b'"', b"")
    name = data.draw(st.sampled_from([b"file", b"other", b"file\xff"]))
    parts = [
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="'
        + k.replace(b'"', b"")
        + b'"\r\n\r\n'
        + v
        + b"\r\n"
        for k, v in fields
    ]
    header = b'\r\nContent-Disposition: form-data; name="' + name + b'"; filename="' + filename
    parts.append(
        b"--" + boundary + header + b'"\r\nContent-Type: text/csv\r\n\r\n' + file + b"\r\n"
    )
    content = b"".join(parts) + b"--" + boundary + b"--\r\n"
    if data.draw(st.integers(0, 4)) == 0:
        content = content[: data.draw(st.integers(0, len(content)))]  # cut short
    headers = {"content-type": b"multipart/form-data; boundary=" + boundary}
    check(world, send(browser, "POST", "admin/import", None, content, headers))
