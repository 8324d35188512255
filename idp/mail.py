"""Mail: messages rendered from templates (text and HTML parts), sent through a backend.

Backends: `console` prints the message (development only: it shows passwords in the
terminal), `file` writes one `.eml` per message into IDP_MAIL_DIR, `smtp` talks to a real
server. A message that cannot be handed over raises MailError; it is never silently lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import smtplib
import ssl
import sys
import tempfile
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol, TextIO

from idp.clock import Clock
from idp.errors import MailError
from idp.metrics import Metrics
from idp.settings import Settings
from idp.templating import Templates

log = logging.getLogger(__name__)

_SEND_FAILED = "Le courriel n'a pas pu être envoyé. Veuillez réessayer plus tard."


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class MessageRenderer:
    """Builds a message from `email/{name}.subject.txt`, `.txt` and `.html`."""

    def __init__(self, templates: Templates, sender: str, clock: Clock) -> None:
        self._templates = templates
        self._sender = sender
        self._clock = clock

    def render(self, name: str, *, to: str, locale: str = "fr", **context: object) -> EmailMessage:
        def part(suffix: str) -> str:
            return self._templates.render(f"email/{name}.{suffix}", locale, **context)

        message = EmailMessage(policy=SMTP)
        message["Subject"] = " ".join(part("subject.txt").split())
        message["From"] = self._sender
        message["To"] = to
        message["Date"] = format_datetime(self._clock.now())
        message["Message-ID"] = make_msgid(domain=_domain(self._sender))
        message.set_content(part("txt"), charset="utf-8")
        message.add_alternative(part("html"), subtype="html", charset="utf-8")
        return message


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    try:
        return Address(addr_spec=address).domain or "localhost"
    except (ValueError, IndexError):
        return "localhost"


class CountedMailer:
    """A mailer whose sends and failures are counted (/metrics): every mail goes through
    the runtime's, whatever the backend."""

    def __init__(self, mailer: Mailer, metrics: Metrics) -> None:
        self.inner = mailer
        self._sent = metrics.mails.labels("sent")
        self._failed = metrics.mails.labels("failed")

    def send(self, message: EmailMessage) -> None:
        try:
            self.inner.send(message)
        except BaseException:
            self._failed.inc()
            raise
        self._sent.inc()


class ConsoleMailer:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, message: EmailMessage) -> None:
        stream = self._stream or sys.stdout
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        stream.write(
            f"----- email (IDP_MAIL_BACKEND=console) -----\n"
            f"From: {message['From']}\nTo: {message['To']}\nSubject: {message['Subject']}\n\n"
            f"{text}\n----- end of email -----\n"
        )
        stream.flush()


class FileMailer:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def send(self, message: EmailMessage) -> None:
        stamp = (message["Message-ID"] or make_msgid()).strip().strip("<>").replace("/", "_")
        tmp: str | None = None
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            # Written under a temporary name then renamed, so a reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=self._directory, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
            os.replace(tmp, self._directory / f"{stamp}.eml")
            tmp = None
        except OSError as exc:
            log.error("mail: cannot write to %s: %s", self._directory, exc.strerror)
            raise MailError(_SEND_FAILED, detail=f"file backend: {exc}") from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, message: EmailMessage) -> None:
        s = self._settings
        smtp: smtplib.SMTP | None = None
        try:
            smtp = self._connect()
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                _login(smtp, s.smtp_username, s.smtp_password or "")
            refused = smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            # The exception text holds the server's reply and never the message body.
            log.error("mail: SMTP %s:%s failed: %s", s.smtp_host, s.smtp_port, _describe(exc))
            raise MailError(_SEND_FAILED, detail=f"smtp: {_describe(exc)}") from exc
        finally:
            if smtp is not None:
                _close(smtp)
        if refused:
            codes = ", ".join(sorted({str(code) for code, _ in refused.values()}))
            log.error("mail: SMTP refused %d recipient(s): %s", len(refused), codes)
            raise MailError(_SEND_FAILED, detail=f"smtp refused recipients: {_refusals(refused)}")

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        if s.smtp_security == "tls":
            return smtplib.SMTP_SSL(
                s.smtp_host,
                s.smtp_port,
                timeout=s.smtp_timeout,
                context=ssl.create_default_context(),
            )
        return smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    try:
        smtp.login(username, password)
    except UnicodeEncodeError:
        # smtplib sends credentials as ASCII only. `from None`: the error holds the password.
        raise smtplib.SMTPException(
            "IDP_SMTP_USERNAME and IDP_SMTP_PASSWORD must be ASCII"
        ) from None


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; once the server has taken the message, a failed QUIT loses nothing."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"recipients refused: {_refusals(exc.recipients)}"
    return f"{type(exc).__name__}: {exc}"


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    """`a@x.fr: 550 5.1.1 unknown; …`: the server's code and reply for each address."""
    return "; ".join(
        f"{address}: {code} {_text(reply)}" for address, (code, reply) in sorted(refused.items())
    )


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def make_mailer(settings: Settings) -> Mailer:
    if settings.mail_backend == "smtp":
        return SmtpMailer(settings)
    if settings.mail_backend == "file":
        return FileMailer(settings.mail_dir)
    return ConsoleMailer()
