"""Helpers shared by test modules (import as `from helpers import …`)."""

from __future__ import annotations

import datetime as dt
import email
import re
import zlib
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UAI_A = "0750655E"
UAI_B = "0999999F"


class Mailbox:
    """The `file` mail backend's directory, read back as messages."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def messages(self) -> list[EmailMessage]:
        if not self.directory.exists():
            return []
        files = sorted(self.directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
        return [
            email.message_from_bytes(p.read_bytes(), policy=default_policy)  # type: ignore[misc]
            for p in files
        ]

    def last(self) -> EmailMessage:
        messages = self.messages()
        assert messages, "no message was sent"
        return messages[-1]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return body.get_content()


CSRF_RE = __import__("re").compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client, code: str, login: str, password: str, next_url: str = ""):  # type: ignore[no-untyped-def]
    """GET the login page, then POST the form as a browser would."""
    page = client.get(f"/{code}/login")
    data = {"csrf_token": csrf_from(page.text), "login": login, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(f"/{code}/login", data=data)


def change_password(client, code: str, new: str, confirmation: str | None = None, current=None):  # type: ignore[no-untyped-def]
    page = client.get(f"/{code}/password/change")
    data = {
        "csrf_token": csrf_from(page.text),
        "new_password": new,
        "new_password_confirmation": new if confirmation is None else confirmation,
    }
    if current is not None:
        data["current_password"] = current
    return client.post(f"/{code}/password/change", data=data)


def self_signed(host: str, certfile: Path, keyfile: Path) -> None:
    """A certificate for `host` only (its own CA, valid an hour either side of now), and
    its key, written as PEM: for a TLS server on loopback that a test client trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def pdf_text(data: bytes) -> bytes:
    """The content streams of a PDF (fpdf2 compresses them), inflated and joined."""
    assert data.startswith(b"%PDF-")
    # Each stream is read from its start until zlib says it ended: cutting at the next
    # "endstream" would lose a last byte that happens to be "\r" (1 time in 256).
    text = b""
    for start in re.finditer(rb"(?<!end)stream\r?\n(?=x)", data):
        inflate = zlib.decompressobj()
        text += inflate.decompress(data[start.end() :])
        assert inflate.eof, "a truncated stream in the PDF"
    return text


def slip_passwords(path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The login -> initial password pairs of a slips PDF (idp.slips.pdf)."""
    text = pdf_text(path.read_bytes()).decode("latin-1")
    # Each slip: its login, then « Mot de passe initial : » and the password on its line.
    found = re.findall(
        r"\(Identifiant : ([a-z.\-0-9]+)\).*?\(Mot de passe initial :\) Tj.*?"
        r"\(([2-9A-Za-z]{4}-[2-9A-Za-z]{4}-[2-9A-Za-z]{4})\) Tj",
        text,
        re.S,
    )
    return dict(found)
