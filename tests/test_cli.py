"""The operator CLI: outputs, and one line + exit 2 for every wrong input, changing nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpers import UAI_A, text_of
from idp.accounts.roles import Role
from idp.models import AuditEvent, Client, Establishment, User
from idp.security.tokens import secret_matches
from idp.services import accounts


def count(rt, model) -> int:  # type: ignore[no-untyped-def]
    with rt.database.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("idp: error: ")
    assert "Traceback" not in result.output
    return lines[0]


# -- establishment create ------------------------------------------------------------------


def test_establishment_create_makes_admin_and_mails_the_access(idp, rt, mailbox):
    result = idp(
        "establishment",
        "create",
        "lp-jaures",
        "--name",
        "LP Jean Jaurès",
        "--uai",
        "0750655e",
        "--email",
        "Secretariat@Jaures.Example",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "0750655e"
    with rt.database.session() as session:
        establishment = session.scalar(select(Establishment))
        assert establishment.code == "lp-jaures"
        assert establishment.uai == "0750655E"
        admin = session.scalar(select(User).where(User.role == Role.ADMIN))
        assert admin.login == "0750655e"
        assert admin.must_change_password is True
        assert admin.birth_date is None
        assert admin.password_hash.startswith("$argon2id$")

    message = mailbox.last()
    assert message["To"] == "Secretariat@jaures.example"
    assert "LP Jean Jaurès" in message["Subject"]
    body = text_of(message)
    lines = body.splitlines()
    assert "http://127.0.0.1:8000/lp-jaures/login" in lines
    assert "0750655e" in lines
    # The generated password stands alone on its line, and it is the one that was hashed.
    [password] = [
        line for line in lines if len(line) == 14 and line.count("-") == 2 and " " not in line
    ]
    assert rt.hasher.verify(admin.password_hash, password).ok
    assert password not in result.output


def test_admin_login_is_unique_per_establishment_only(idp, school, other_school, rt):
    with rt.database.session() as session:
        logins = sorted(u.login for u in session.scalars(select(User)))
    assert logins == ["0750655e", "0999999f"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["BAD CODE", "--uai", UAI_A], "invalid establishment code"),
        (["admin", "--uai", UAI_A], "reserved"),
        (["healthz", "--uai", UAI_A], "reserved"),
        (["lp-x", "--uai", "0750655F"], "check letter should be E"),
        (["lp-x", "--uai", "750655E"], "invalid UAI"),
        (["lp-x", "--uai", UAI_A, "--email", "not-an-address"], "invalid email"),
    ],
)
def test_establishment_create_refuses_bad_input(idp, rt, mailbox, args, fragment):
    base = ["establishment", "create", args[0], "--name", "LP X"]
    extra = args[1:]
    if "--email" not in extra:
        extra += ["--email", "x@lp-x.example"]
    line = one_line_error(idp(*base, *extra))
    assert fragment in line
    assert count(rt, Establishment) == 0
    assert count(rt, User) == 0
    assert mailbox.messages() == []


def test_establishment_create_refuses_duplicates(idp, school, rt, mailbox):
    sent = len(mailbox.messages())
    duplicate_code = idp(
        "establishment",
        "create",
        school,
        "--name",
        "Autre",
        "--uai",
        "0999999F",
        "--email",
        "a@b.example",
    )
    assert "already exists" in one_line_error(duplicate_code)
    duplicate_uai = idp(
        "establishment",
        "create",
        "lp-other",
        "--name",
        "Autre",
        "--uai",
        UAI_A.lower(),
        "--email",
        "a@b.example",
    )
    assert "already belongs to 'lp-a'" in one_line_error(duplicate_uai)
    assert count(rt, Establishment) == 1
    assert count(rt, User) == 1
    assert len(mailbox.messages()) == sent


def test_establishment_create_creates_nothing_when_the_mail_fails(idp, rt, tmp_path):
    # A file where the mail directory should be: the file backend cannot write.
    blocker = tmp_path / "blocked"
    blocker.write_text("")
    from idp.mail import FileMailer

    rt.mailer = FileMailer(blocker / "mail")
    result = idp(
        "establishment",
        "create",
        "lp-x",
        "--name",
        "LP X",
        "--uai",
        UAI_A,
        "--email",
        "x@lp-x.example",
    )
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert count(rt, Establishment) == 0
    assert count(rt, User) == 0


def test_missing_option_is_one_line(idp):
    line = one_line_error(idp("establishment", "create", "lp-x", "--name", "X"))
    assert "--uai" in line


def test_establishment_list_and_disable(idp, school, other_school):
    assert idp("establishment", "disable", school).exit_code == 0
    listing = idp("establishment", "list")
    assert listing.exit_code == 0
    rows = [line.split("\t") for line in listing.stdout.splitlines()]
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("lp-a", "disabled", "1 accounts"),
        ("lp-b", "enabled", "1 accounts"),
    ]
    assert idp("establishment", "enable", school).exit_code == 0
    assert "enabled" in idp("establishment", "list").stdout.splitlines()[0]
    assert "unknown establishment" in one_line_error(idp("establishment", "disable", "nope"))


# -- users ---------------------------------------------------------------------------------


def add(idp, code, first, last, birth="2009-03-14", role="student", *extra):  # type: ignore[no-untyped-def]
    return idp(
        "user",
        "add",
        code,
        "--first-name",
        first,
        "--last-name",
        last,
        "--birth-date",
        birth,
        "--role",
        role,
        *extra,
    )


def test_user_add_prints_the_login_last_and_resolves_collisions(idp, school, rt):
    first = add(idp, school, "Jean", "Dupont")
    second = add(idp, school, "Jean", "Dupont", "2008-01-02")
    third = add(idp, school, " jean ", "DUPONT", "2007-05-06")
    assert [r.stdout.splitlines()[-1] for r in (first, second, third)] == [
        "jean.dupont",
        "jean.dupont2",
        "jean.dupont3",
    ]


def test_user_add_records_everything(idp, school, rt):
    result = add(
        idp,
        school,
        "Éloïse",
        "Œuvrard",
        "1985-09-02",
        "teacher",
        "--email",
        "eloise@lp-a.example",
        "--group",
        "CAP1",
        "--group",
        "BAC2",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "eloise.oeuvrard"
    with rt.database.session() as session:
        user = session.scalar(select(User).where(User.login == "eloise.oeuvrard"))
        assert user.first_name == "Éloïse"
        assert user.role is Role.TEACHER
        assert user.password_hash is None
        assert user.password_state == "initial"
        assert user.email == "eloise@lp-a.example"
        assert user.email_verified is False
        assert user.class_names == ["BAC2", "CAP1"]
        assert len(user.sub) == 32
        event = session.scalar(select(AuditEvent).where(AuditEvent.type == "user.created"))
        assert event.subject == "eloise.oeuvrard"
        assert event.actor == "operator"


@pytest.mark.parametrize(
    ("first", "last", "birth", "role", "fragment"),
    [
        ("Jean", "Dupont", "14/07/2009", "student", "invalid date"),
        ("Jean", "Dupont", "2009-02-30", "student", "invalid date"),
        ("Jean", "Dupont", "2999-01-01", "student", "birth date"),
        ("Jean", "Dupont", "1850-01-01", "student", "birth date"),
        ("???", "Dupont", "2009-01-01", "student", "no letter or digit"),
        ("Jean", "李", "2009-01-01", "student", "no letter or digit"),
        ("Jean", "Dupont", "2009-01-01", "admin", "'admin' is not one of"),
        ("", "Dupont", "2009-01-01", "student", "is empty"),
        # Finding 12 of the outside review: control and invisible characters.
        ("Je\x01an", "Dupont", "2009-01-01", "student", "control or format character U+0001"),
        ("Jean", "\u202eDupont", "2009-01-01", "student", "control or format character U+202E"),
    ],
)
def test_user_add_refuses_bad_input(idp, school, rt, first, last, birth, role, fragment):
    line = one_line_error(add(idp, school, first, last, birth, role))
    assert fragment in line
    assert count(rt, User) == 1  # the admin only


def test_user_add_unknown_establishment(idp, rt):
    assert "unknown establishment" in one_line_error(add(idp, "nope", "Jean", "Dupont"))


def test_user_add_bad_email(idp, school):
    assert "invalid email" in one_line_error(
        add(idp, school, "A", "B", "2000-01-01", "teacher", "--email", "x@")
    )


def test_set_password_and_reset(idp, school, rt):
    add(idp, school, "Léa", "Martin")
    result = idp(
        "user", "set-password", school, "LEA.MARTIN ", "--password-stdin", input="un cheval bleu\n"
    )
    assert result.exit_code == 0, result.output
    with rt.database.session() as session:
        user = session.scalar(select(User).where(User.login == "lea.martin"))
        assert rt.hasher.verify(user.password_hash, "un cheval bleu").ok  # one newline stripped
        assert user.password_state == "personal"

    idp(
        "user",
        "set-password",
        school,
        "lea.martin",
        "--password-stdin",
        "--temporary",
        input="tmp-pass-xyz\n\n",
    )
    with rt.database.session() as session:
        user = session.scalar(select(User).where(User.login == "lea.martin"))
        assert rt.hasher.verify(
            user.password_hash, "tmp-pass-xyz\n"
        ).ok  # only one newline stripped
        assert user.password_state == "temporary"

    reset = idp("user", "reset-password", school, "lea.martin")
    assert reset.exit_code == 0, reset.output
    with rt.database.session() as session:
        user = session.scalar(select(User).where(User.login == "lea.martin"))
        assert user.password_hash is None
        assert user.password_state == "initial"
        types = [e.type for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert types[-3:] == ["password.set", "password.set", "password.reset"]


def test_set_password_errors(idp, school):
    assert "unknown login" in one_line_error(
        idp("user", "set-password", school, "nobody", "--password-stdin", input="abc\n")
    )
    assert "empty password" in one_line_error(
        idp("user", "set-password", school, "0750655e", "--password-stdin", input="\n")
    )
    assert "--password-stdin" in one_line_error(idp("user", "set-password", school, "0750655e"))


def test_reset_of_the_admin_mails_a_new_password(idp, school, rt, mailbox):
    before = len(mailbox.messages())
    result = idp("user", "reset-password", school, "0750655E")
    assert result.exit_code == 0, result.output
    assert "secretariat@lp-a.example" in result.stdout
    messages = mailbox.messages()
    assert len(messages) == before + 1
    lines = text_of(messages[-1]).splitlines()
    [password] = [line for line in lines if len(line) == 14 and line.count("-") == 2]
    with rt.database.session() as session:
        admin = session.scalar(select(User).where(User.login == "0750655e"))
        assert rt.hasher.verify(admin.password_hash, password).ok
        assert admin.must_change_password


def test_user_of_one_establishment_is_unknown_at_another(idp, school, other_school):
    add(idp, school, "Léa", "Martin")
    assert "unknown login" in one_line_error(
        idp("user", "reset-password", other_school, "lea.martin")
    )


# -- clients -------------------------------------------------------------------------------


def test_client_add_json_is_one_compact_line(idp, school, rt):
    result = idp(
        "client",
        "add",
        school,
        "--name",
        "C Pro STI",
        "--redirect-uri",
        "https://sti.cpro.example/callback",
        "--redirect-uri",
        "http://127.0.0.1:8001/callback",
        "--post-logout-redirect-uri",
        "https://sti.cpro.example/",
        "--backchannel-logout-uri",
        "https://sti.cpro.example/backchannel",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    payload = json.loads(result.stdout)
    assert set(payload) == {"client_id", "client_secret"}
    assert " " not in result.stdout.strip()
    with rt.database.session() as session:
        client = session.scalar(select(Client))
        assert client.client_id == payload["client_id"]
        assert client.secret_hash != payload["client_secret"]
        assert secret_matches(client.secret_hash, payload["client_secret"])
        assert client.redirect_uris == [
            "https://sti.cpro.example/callback",
            "http://127.0.0.1:8001/callback",
        ]
        assert client.token_endpoint_auth_method == "client_secret_basic"
        assert client.third_party is False


def test_public_client_has_no_secret(idp, school, rt):
    result = idp(
        "client",
        "add",
        school,
        "--name",
        "App",
        "--redirect-uri",
        "fr.cpro.app:/callback",
        "--public",
        "--third-party",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["client_secret"] is None
    with rt.database.session() as session:
        client = session.scalar(select(Client))
        assert client.public and client.secret_hash is None and client.third_party


def test_client_add_plain_output_shows_secret_once(idp, school, rt):
    result = idp("client", "add", school, "--name", "M", "--redirect-uri", "https://m.example/cb")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("client_id: ")
    assert lines[1].startswith("client_secret: ")
    secret = lines[1].removeprefix("client_secret: ")
    with rt.database.session() as session:
        assert secret_matches(session.scalar(select(Client.secret_hash)), secret)


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("/callback", "il faut une adresse complète"),
        ("http://sti.cpro.example/cb", "http n'est permis que pour la machine locale"),
        ("https://sti.cpro.example/cb#frag", "ne doit pas contenir de #"),
        ("https://sti.cpro.example/c b", "elle contient un espace"),
        ("fr.cpro.app:/callback", "que pour une application publique"),
        ("javascript:alert(1)", "il faut une adresse https"),
        ("https://host:99999/cb", "pas une adresse web valide"),
        # Never usable: the authorization endpoint refuses such a redirect_uri.
        ("https://sti.cpro.example/c\x00b", "encodés (RFC 3986)"),
        ('https://sti.cpro.example/"cb', "encodés (RFC 3986)"),
        ("https://sti.cpro.example/caf\u00e9", "encodés (RFC 3986)"),
        ("https://sti.cpro.example/c\\b", "encodés (RFC 3986)"),
    ],
)
def test_client_add_refuses_bad_redirect_uris(idp, school, rt, uri, fragment):
    line = one_line_error(idp("client", "add", school, "--name", "M", "--redirect-uri", uri))
    assert fragment in line
    assert count(rt, Client) == 0


def test_client_add_refuses_bad_logout_uris(idp, school, rt):
    ok = "https://m.example/cb"
    bad_post_logout = idp(
        "client",
        "add",
        school,
        "--name",
        "M",
        "--redirect-uri",
        ok,
        "--post-logout-redirect-uri",
        "http://m.example/",
    )
    one_line_error(bad_post_logout)
    bad_backchannel = idp(
        "client",
        "add",
        school,
        "--name",
        "M",
        "--redirect-uri",
        ok,
        "--public",
        "--backchannel-logout-uri",
        "fr.cpro.app:/logout",
    )
    one_line_error(bad_backchannel)
    assert count(rt, Client) == 0


def test_client_add_unknown_establishment(idp, rt):
    line = one_line_error(
        idp("client", "add", "nope", "--name", "M", "--redirect-uri", "https://m.example/cb")
    )
    assert "unknown establishment" in line


# -- demo and the real executable -----------------------------------------------------------


def test_demo_is_idempotent(idp, rt):
    first = idp("demo")
    assert first.exit_code == 0, first.output
    users_after_first = count(rt, User)
    second = idp("demo")
    assert second.exit_code == 0, second.output
    assert count(rt, User) == users_after_first == 5
    assert count(rt, Establishment) == 1
    assert first.stdout == second.stdout
    assert "lea.martin" in first.stdout and "14032009" in first.stdout


def test_demo_says_where_to_go_where_mail_goes_and_which_passwords_still_work(idp, rt):
    first = idp("demo").stdout
    # Where a newcomer goes: the teacher's page and the console too.
    for path in ("/demo/login", "/demo/students", "/demo/admin"):
        assert f"http://127.0.0.1:8000{path}" in first, path
    assert "Emails (forgotten passwords, resets):" in first
    if rt.settings.database_url.startswith("sqlite"):  # its file is what to delete
        assert "To start the demo over" in first
    # Léa chose her own password: the birth date would only mislead.
    rt.run(accounts.set_password, "demo", "lea.martin", "ma tortue verte lit le journal",
           temporary=False)  # fmt: skip
    again = idp("demo").stdout
    lea = next(line for line in again.splitlines() if "lea.martin" in line)
    assert "14032009" not in lea and "déjà choisi" in lea
    assert "hugo.bernard" in again and "02112008" in again


def _run_idp(tmp_path: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    executable = Path(sys.executable).with_name("idp")
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **(env or {})}
    return subprocess.run(
        [str(executable), *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_installed_command_end_to_end(tmp_path):
    """The real `idp` executable: migrations, a bad UAI (exit 2, one line), then success."""
    upgrade = _run_idp(tmp_path, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert (tmp_path / "idp.db").exists()
    assert (tmp_path / "idp.db.secret-key").stat().st_mode & 0o777 == 0o600
    bad = _run_idp(
        tmp_path,
        "establishment",
        "create",
        "lp-x",
        "--name",
        "X",
        "--uai",
        "0750655F",
        "--email",
        "x@x.example",
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "idp: error: invalid UAI '0750655F': the check letter should be E"
    ]
    good = _run_idp(
        tmp_path,
        "user",
        "add",
        "nope",
        "--first-name",
        "A",
        "--last-name",
        "B",
        "--birth-date",
        "2000-01-01",
        "--role",
        "student",
    )
    assert good.returncode == 2
    assert good.stderr.strip() == "idp: error: unknown establishment 'nope'"


def test_missing_schema_is_explained(tmp_path):
    result = _run_idp(tmp_path, "establishment", "list")
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "idp: error: the database has no tables yet: run `idp db upgrade`"
    )


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("court", "(too_short): shorter than 8 characters"),
        ("lea martin et ses amis", "(contains_identity)"),
        ("14032009 et le chat", "(contains_birth_date)"),
        ("azertyuiop", "(common)"),
        ("abcdefgh12", "(weak)"),
    ],
)
def test_set_password_applies_the_policy(idp, school, rt, password, rule):
    add(idp, school, "Léa", "Martin")
    line = one_line_error(
        idp("user", "set-password", school, "lea.martin", "--password-stdin", input=password + "\n")
    )
    assert rule in line
    assert password not in line
    with rt.database.session() as session:
        assert session.scalar(select(User.password_hash).where(User.login == "lea.martin")) is None


def test_temporary_password_needs_only_the_length(idp, school):
    add(idp, school, "Léa", "Martin")
    ok = idp(
        "user",
        "set-password",
        school,
        "lea.martin",
        "--password-stdin",
        "--temporary",
        input="azertyuiop\n",
    )
    assert ok.exit_code == 0, ok.output
    short = idp(
        "user",
        "set-password",
        school,
        "lea.martin",
        "--password-stdin",
        "--temporary",
        input="abc\n",
    )
    assert "(too_short)" in one_line_error(short)
