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
