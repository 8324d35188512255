"""The mail layer: rendering, and the smtp backend against a real SMTP server (aiosmtpd).

Also the file and console backends, and make_mailer. A message that cannot be handed over
must raise MailError, never vanish, and no password may reach a log line.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid, parsedate_to_datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from markupsafe import escape

from idp.clock import FrozenClock
from idp.errors import MailError
from idp.mail import ConsoleMailer, FileMailer, MessageRenderer, SmtpMailer, make_mailer
from idp.settings import Settings
from idp.templating import Templates
from smtp_support import Recorder, Server, free_port, parse

SENDER = "CPRO éducation <no-reply@cpro-education.fr>"
SENDER_ADDRESS = "no-reply@cpro-education.fr"
RECIPIENT = "secretariat@lp-zola.example"
PASSWORD = "Kq7m-Xr4t-9wZp"  # the shape of generate_password()'s output
NAME = "Lycée professionnel Émile-Zola d'Hénin"
LOGIN_URL = "https://connect.cpro-education.fr/lp-zola/login"
ADMIN_LOGIN = "0750655e"
SMTP_USER = "idp-mailer"
SMTP_PASSWORD = "smtp-Secret-42"
SMTP_PASSWORD_UTF8 = "smtp-Sécret-42"
NOW = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)

# aiosmtpd warns when a server requires AUTH without TLS; these tests do so on purpose.
auth_without_tls = pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS:UserWarning"
)


# -- rendering -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates()


@pytest.fixture
def renderer(templates: Templates) -> MessageRenderer:
    return MessageRenderer(templates, SENDER, FrozenClock(NOW))


def welcome(
    renderer: MessageRenderer, *, name: str = NAME, to: str = RECIPIENT, password: str = PASSWORD
) -> EmailMessage:
    return renderer.render(
        "establishment_created",
        to=to,
        establishment=SimpleNamespace(name=name),
        login_url=LOGIN_URL,
        admin_login=ADMIN_LOGIN,
        password=password,
    )


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None, "no text/plain part"
    return part.get_content()


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None, "no text/html part"
    return part.get_content()


# -- a real SMTP server --------------------------------------------------------------------


def smtp_settings(port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mail_backend": "smtp",
        "mail_from": SENDER,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


# -- smtp backend: delivery ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        NAME,
        # Long enough that the encoded subject is folded over several lines.
        "Lycée des métiers de l'hôtellerie et de la restauration Jean-Élie « Les Îles » — "
        "Saint-Étienne-du-Rouvray",
    ],
)
def test_smtp_delivers_the_rendered_message(
    smtp_server: Callable[..., Server], renderer: MessageRenderer, name: str
) -> None:
    server = smtp_server()

    SmtpMailer(smtp_settings(server.port)).send(welcome(renderer, name=name))

    envelope, received = server.handler.only()
    assert envelope.mail_from == SENDER_ADDRESS
    assert envelope.rcpt_tos == [RECIPIENT]
    assert str(received["From"]) == SENDER
    assert str(received["To"]) == RECIPIENT
    assert str(received["Subject"]) == f"Votre accès à CPRO éducation — {name}"
    assert parsedate_to_datetime(str(received["Date"])) == NOW
    message_id = str(received["Message-ID"])
    assert message_id.startswith("<") and message_id.endswith("@cpro-education.fr>")
    # Headers are 7-bit (RFC 2047 encoded words) so any server accepts them.
    headers = envelope.original_content.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii()

    assert received.get_content_type() == "multipart/alternative"
    plain = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content_charset() == "utf-8"
    assert html.get_content_charset() == "utf-8"
    text = text_of(received)
    lines = text.splitlines()
    assert PASSWORD in lines  # alone on its line: copy-paste picks up nothing else
    assert LOGIN_URL in lines
    assert ADMIN_LOGIN in lines
    assert f"« {name} »" in text  # the text part is not HTML-escaped
    assert "&#39;" not in text and "&amp;" not in text
    markup = html_of(received)
    assert f'<code style="font-size: 1.2em;">{PASSWORD}</code>' in markup
    assert f'<a href="{LOGIN_URL}">' in markup
    assert f"« {escape(name)} »" in markup  # the name is escaped in HTML
    assert "'" not in str(escape(name))


def test_subject_is_one_line_whatever_the_template(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "note.subject.txt").write_text("  Accès   pour\n{{ who }}  \n\n")
    (tmp_path / "email" / "note.txt").write_text("Bonjour {{ who }}\n")
    (tmp_path / "email" / "note.html").write_text("<p>Bonjour {{ who }}</p>\n")
    renderer = MessageRenderer(Templates(tmp_path), SENDER, FrozenClock(NOW))

    message = renderer.render("note", to=RECIPIENT, who="Hélène")

    assert str(message["Subject"]) == "Accès pour Hélène"
    assert text_of(message) == "Bonjour Hélène\n"
    assert "<p>Bonjour Hélène</p>" in html_of(message)


def test_smtp_date_header_follows_the_injected_clock(
    smtp_server: Callable[..., Server], templates: Templates
) -> None:
    server = smtp_server()
    clock = FrozenClock(NOW)
    clock.advance(days=200, hours=3)
    renderer = MessageRenderer(templates, SENDER, clock)

    SmtpMailer(smtp_settings(server.port)).send(welcome(renderer))

    _, received = server.handler.only()
    assert parsedate_to_datetime(str(received["Date"])) == clock.now()


@auth_without_tls
def test_smtp_authenticates_when_credentials_are_configured(
    smtp_server: Callable[..., Server], renderer: MessageRenderer
) -> None:
    server = smtp_server(auth=(SMTP_USER, SMTP_PASSWORD), auth_required=True)
    settings = smtp_settings(server.port, smtp_username=SMTP_USER, smtp_password=SMTP_PASSWORD)

    SmtpMailer(settings).send(welcome(renderer))

    assert server.credentials == [(SMTP_USER.encode(), SMTP_PASSWORD.encode())]
    assert server.handler.authenticated == [True]
    _, received = server.handler.only()
    assert PASSWORD in text_of(received).splitlines()


def test_smtp_without_credentials_does_not_authenticate(
    smtp_server: Callable[..., Server], renderer: MessageRenderer
) -> None:
    server = smtp_server(auth=(SMTP_USER, SMTP_PASSWORD))

    SmtpMailer(smtp_settings(server.port)).send(welcome(renderer))

    assert server.credentials == []
    assert server.handler.authenticated == [None]


# -- smtp backend: failures ----------------------------------------------------------------


@auth_without_tls
def test_smtp_wrong_credentials_raise_mail_error(
    smtp_server: Callable[..., Server], renderer: MessageRenderer
) -> None:
    server = smtp_server(auth=(SMTP_USER, SMTP_PASSWORD), auth_required=True)
    settings = smtp_settings(server.port, smtp_username=SMTP_USER, smtp_password="wrong")

    with pytest.raises(MailError) as caught:
        SmtpMailer(settings).send(welcome(renderer))

    assert "535" in caught.value.detail
    assert server.handler.envelopes == []


@auth_without_tls
def test_smtp_auth_required_but_not_configured_raises_mail_error(
    smtp_server: Callable[..., Server], renderer: MessageRenderer
) -> None:
    server = smtp_server(auth=(SMTP_USER, SMTP_PASSWORD), auth_required=True)

    with pytest.raises(MailError) as caught:
        SmtpMailer(smtp_settings(server.port)).send(welcome(renderer))

    assert "530" in caught.value.detail
    assert server.handler.envelopes == []


@pytest.mark.parametrize(
    ("handler", "code"),
    [
        (Recorder(refuse_rcpt="550 5.1.1 Mailbox unavailable"), "550"),
        (Recorder(refuse_rcpt="553 5.1.3 Bad destination mailbox address syntax"), "553"),
        (Recorder(refuse_data="554 5.7.1 Message rejected as spam"), "554"),
        (Recorder(refuse_data="552 5.3.4 Message too big"), "552"),
        (Recorder(refuse_data="451 4.3.0 Try again later"), "451"),
    ],
    ids=["rcpt-550", "rcpt-553", "data-554", "data-552", "data-451"],
)
def test_smtp_refusal_raises_mail_error_naming_the_code(
    smtp_server: Callable[..., Server], renderer: MessageRenderer, handler: Recorder, code: str
) -> None:
    server = smtp_server(handler)

    with pytest.raises(MailError) as caught:
        SmtpMailer(smtp_settings(server.port)).send(welcome(renderer))

    assert code in caught.value.detail, caught.value.detail
    assert server.handler.envelopes == []
    # The public message is for people; the detail is for the logs.
    assert "courriel" in caught.value.message


@auth_without_tls
def test_smtp_non_ascii_credentials_raise_mail_error(
    smtp_server: Callable[..., Server], renderer: MessageRenderer
) -> None:
    # smtplib cannot send them: a MailError, not a UnicodeEncodeError escaping the mailer.
    server = smtp_server(auth=(SMTP_USER, SMTP_PASSWORD_UTF8), auth_required=True)
    settings = smtp_settings(server.port, smtp_username=SMTP_USER, smtp_password=SMTP_PASSWORD_UTF8)

    with pytest.raises(MailError) as caught:
        SmtpMailer(settings).send(welcome(renderer))

    assert "ASCII" in caught.value.detail
    assert server.handler.envelopes == []


def test_smtp_partial_refusal_is_not_silent(
    smtp_server: Callable[..., Server], renderer: MessageRenderer
) -> None:
    handler = Recorder(refuse_rcpt="550 5.1.1 Mailbox unavailable", refuse_rcpt_matching="gone")
    server = smtp_server(handler)
    message = welcome(renderer, to=f"{RECIPIENT}, gone@lp-zola.example")

    with pytest.raises(MailError) as caught:
        SmtpMailer(smtp_settings(server.port)).send(message)

    assert "gone@lp-zola.example" in caught.value.detail
    assert "550" in caught.value.detail
    envelope, _ = server.handler.only()
    assert envelope.rcpt_tos == [RECIPIENT]


def test_smtp_server_down_raises_mail_error(renderer: MessageRenderer) -> None:
    # A bound socket that does not listen: connections to its port are refused.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(MailError) as caught:
            SmtpMailer(smtp_settings(port)).send(welcome(renderer))
    assert "ConnectionRefusedError" in caught.value.detail


class SilentServer:
    """Accepts TCP connections, then says nothing (or only the greeting) until stopped."""

    def __init__(self, greeting: bytes | None) -> None:
        self._greeting = greeting
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        connections = []
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            connections.append(conn)
            if self._greeting:
                conn.sendall(self._greeting)
        for conn in connections:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


@pytest.mark.parametrize(
    "greeting", [None, b"220 mx.example ESMTP\r\n"], ids=["no-greeting", "stalls-after-greeting"]
)
def test_smtp_server_that_never_answers_raises_mail_error_within_the_timeout(
    renderer: MessageRenderer, greeting: bytes | None
) -> None:
    server = SilentServer(greeting)
    timeout = 0.3
    outcome: list[BaseException | None] = []

    def send() -> None:
        try:
            SmtpMailer(smtp_settings(server.port, smtp_timeout=timeout)).send(welcome(renderer))
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)
        else:
            outcome.append(None)

    started = time.monotonic()
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    thread.join(5)
    elapsed = time.monotonic() - started
    server.close()  # also unblocks a sender that ignored the timeout
    thread.join(5)

    assert elapsed < 3, f"send() blocked {elapsed:.1f}s with smtp_timeout={timeout}"
    assert len(outcome) == 1
    assert isinstance(outcome[0], MailError), outcome[0]


@auth_without_tls
@pytest.mark.parametrize("failure", ["rcpt", "data", "auth", "down", "non-ascii-credentials"])
def test_smtp_failure_logs_never_show_a_password(
    smtp_server: Callable[..., Server],
    renderer: MessageRenderer,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    overrides: dict[str, Any] = {"smtp_username": SMTP_USER, "smtp_password": SMTP_PASSWORD}
    if failure == "rcpt":
        port = smtp_server(Recorder(refuse_rcpt="550 5.1.1 Mailbox unavailable")).port
        overrides = {}
    elif failure == "data":
        server = smtp_server(
            Recorder(refuse_data="554 5.7.1 Message rejected"), auth=(SMTP_USER, SMTP_PASSWORD)
        )
        port = server.port
    elif failure == "auth":
        port = smtp_server(auth=(SMTP_USER, "another password"), auth_required=True).port
    elif failure == "non-ascii-credentials":
        port = smtp_server(auth=(SMTP_USER, SMTP_PASSWORD), auth_required=True).port
        overrides["smtp_password"] = SMTP_PASSWORD_UTF8
    else:
        port = free_port()
    caplog.set_level(logging.DEBUG, logger="idp")

    with pytest.raises(MailError) as caught:
        SmtpMailer(smtp_settings(port, **overrides)).send(welcome(renderer))

    ours = [r for r in caplog.records if r.name == "idp" or r.name.startswith("idp.")]
    assert any(r.levelno >= logging.ERROR for r in ours), "the failure was not logged"
    for record in ours:
        logged = record.getMessage() + (record.exc_text or "")
        if record.exc_info:
            logged += logging.Formatter().formatException(record.exc_info)
        for secret in (PASSWORD, SMTP_PASSWORD, SMTP_PASSWORD_UTF8):
            assert secret not in logged
    for text in (str(caught.value), caught.value.detail):
        for secret in (PASSWORD, SMTP_PASSWORD, SMTP_PASSWORD_UTF8):
            assert secret not in text


# -- file backend --------------------------------------------------------------------------


def test_file_backend_writes_one_eml_per_message(tmp_path: Path, renderer: MessageRenderer) -> None:
    directory = tmp_path / "var" / "mail"  # does not exist yet
    mailer = FileMailer(directory)
    first = welcome(renderer, to="a@lp-zola.example", password="Aaaa-2222-Bbbb")
    second = welcome(renderer, to="b@lp-zola.example", password="Cccc-3333-Dddd")

    mailer.send(first)
    mailer.send(second)

    entries = sorted(directory.iterdir())
    assert len(entries) == 2
    assert all(p.suffix == ".eml" and not p.name.startswith(".") for p in entries), entries
    parsed = {str(m["To"]): m for m in (parse(p.read_bytes()) for p in entries)}
    assert set(parsed) == {"a@lp-zola.example", "b@lp-zola.example"}
    assert "Aaaa-2222-Bbbb" in text_of(parsed["a@lp-zola.example"]).splitlines()
    assert "Cccc-3333-Dddd" in text_of(parsed["b@lp-zola.example"]).splitlines()
    got = parsed["a@lp-zola.example"]
    assert str(got["From"]) == SENDER
    assert str(got["Subject"]) == f"Votre accès à CPRO éducation — {NAME}"
    assert str(got["Message-ID"]) == str(first["Message-ID"])
    assert parsedate_to_datetime(str(got["Date"])) == NOW
    assert "Aaaa-2222-Bbbb" in html_of(got)


def test_file_backend_writes_a_message_without_message_id(tmp_path: Path) -> None:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = "Test"
    message.set_content("bonjour\n")

    FileMailer(tmp_path).send(message)

    entries = list(tmp_path.iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".eml"
    assert text_of(parse(entries[0].read_bytes())) == "bonjour\n"


@pytest.mark.parametrize("where", ["under-a-file", "is-a-file"])
def test_file_backend_unwritable_location_raises_mail_error(
    tmp_path: Path, renderer: MessageRenderer, where: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n")
    directory = blocker / "mail" if where == "under-a-file" else blocker

    with pytest.raises(MailError) as caught:
        FileMailer(directory).send(welcome(renderer))

    assert "file backend" in caught.value.detail
    assert PASSWORD not in caught.value.detail
    assert blocker.read_text() == "not a directory\n"


def test_file_backend_failed_write_leaves_no_temporary_file(
    tmp_path: Path, renderer: MessageRenderer
) -> None:
    message = welcome(renderer)
    del message["Message-ID"]
    message["Message-ID"] = make_msgid(idstring="taken", domain="cpro-education.fr")
    # Something already sits where the .eml would go: the final rename fails.
    (tmp_path / f"{message['Message-ID'].strip('<>')}.eml").mkdir()

    with pytest.raises(MailError):
        FileMailer(tmp_path).send(message)

    assert [p.name for p in tmp_path.iterdir()] == [f"{message['Message-ID'].strip('<>')}.eml"]


# -- console backend -----------------------------------------------------------------------


def test_console_backend_prints_to_its_stream(
    renderer: MessageRenderer, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = io.StringIO()

    ConsoleMailer(stream).send(welcome(renderer))

    out = stream.getvalue()
    lines = out.splitlines()
    assert f"From: {SENDER}" in lines
    assert f"To: {RECIPIENT}" in lines
    assert f"Subject: Votre accès à CPRO éducation — {NAME}" in lines
    assert PASSWORD in lines
    assert LOGIN_URL in lines
    assert "<html" not in out  # the text part, not the HTML one
    assert capsys.readouterr() == ("", "")  # nothing went to the real stdout/stderr


# -- make_mailer ---------------------------------------------------------------------------


def test_make_mailer_smtp_sends_to_the_configured_server(
    smtp_server: Callable[..., Server], renderer: MessageRenderer
) -> None:
    server = smtp_server()
    settings = Settings.from_env(
        environ={
            "IDP_DATABASE_URL": "sqlite:///:memory:",
            "IDP_MAIL_BACKEND": "smtp",
            "IDP_MAIL_FROM": SENDER,
            "IDP_SMTP_HOST": "127.0.0.1",
            "IDP_SMTP_PORT": str(server.port),
        },
        env_file=None,
    )

    make_mailer(settings).send(welcome(renderer))

    envelope, _ = server.handler.only()
    assert envelope.rcpt_tos == [RECIPIENT]


def test_make_mailer_file_writes_into_mail_dir(
    tmp_path: Path, renderer: MessageRenderer, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(mail_backend="file", mail_dir=tmp_path / "outbox")

    make_mailer(settings).send(welcome(renderer))

    (eml,) = (tmp_path / "outbox").glob("*.eml")
    assert PASSWORD in text_of(parse(eml.read_bytes())).splitlines()
    assert capsys.readouterr().out == ""


def test_make_mailer_console_prints_to_stdout(
    tmp_path: Path, renderer: MessageRenderer, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(mail_backend="console", mail_dir=tmp_path / "outbox")

    make_mailer(settings).send(welcome(renderer))

    assert PASSWORD in capsys.readouterr().out.splitlines()
    assert not (tmp_path / "outbox").exists()
