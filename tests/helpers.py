"""Helpers shared by test modules (import as `from helpers import …`)."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

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
