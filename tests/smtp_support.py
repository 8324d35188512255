"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1) that records what it accepts
and refuses what it is told to."""

from __future__ import annotations

import email
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=default_policy)  # type: ignore[return-value]


@dataclass
class Recorder:
    """aiosmtpd handler: records what it accepts, refuses what it is told to."""

    refuse_rcpt: str | None = None  # e.g. "550 5.1.1 ..." for every recipient
    refuse_rcpt_matching: str | None = None  # only recipients starting with this
    refuse_data: str | None = None
    envelopes: list[Envelope] = field(default_factory=list)
    authenticated: list[bool | None] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if self.refuse_rcpt and (
            self.refuse_rcpt_matching is None or address.startswith(self.refuse_rcpt_matching)
        ):
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.refuse_data:
            return self.refuse_data
        self.envelopes.append(envelope)
        self.authenticated.append(session.authenticated)
        return "250 Message accepted for delivery"

    def only(self) -> tuple[Envelope, EmailMessage]:
        assert len(self.envelopes) == 1, f"{len(self.envelopes)} messages received"
        envelope = self.envelopes[0]
        assert isinstance(envelope.original_content, bytes)
        return envelope, parse(envelope.original_content)


@dataclass
class Server:
    port: int
    handler: Recorder
    credentials: list[tuple[bytes, bytes]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., Server]]:
    """Start an aiosmtpd server on 127.0.0.1: `smtp_server(handler, auth=(user, password))`."""
    controllers: list[Controller] = []

    def start(
        handler: Recorder | None = None,
        *,
        auth: tuple[str, str] | None = None,
        auth_required: bool = False,
    ) -> Server:
        handler = handler or Recorder()
        seen: list[tuple[bytes, bytes]] = []
        kwargs: dict[str, Any] = {}
        if auth is not None:
            user, password = auth[0].encode(), auth[1].encode()

            def authenticator(server, session, envelope, mechanism, data):  # type: ignore[no-untyped-def]
                assert isinstance(data, LoginPassword)
                seen.append((data.login, data.password))
                ok = (data.login, data.password) == (user, password)
                # handled=False: aiosmtpd itself answers 535 on failure.
                return AuthResult(success=ok, handled=False, auth_data=data)

            kwargs.update(authenticator=authenticator, auth_require_tls=False)
        if auth_required:
            kwargs.update(auth_required=True, auth_require_tls=False)
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return Server(port, handler, seen)

    yield start
    for controller in controllers:
        controller.stop()
