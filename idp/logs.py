"""How the provider's log lines are written: one event a line, whatever its values hold,
as readable text (the default) or as one JSON object a line (IDP_LOG_FORMAT=json, written
by python-json-logger), each carrying the request it belongs to.

Messages quote what people and modules sent (a path, a redirect URI, a login): a newline or
a terminal escape in them must not forge a second line or repaint an operator's terminal.
No line carries a password, a token, a code, a client secret, a cookie or a full email
address, at any level: the code never logs them, and the libraries that would (the SQL of
SQLAlchemy with its parameters, httpx's requests) are kept at WARNING.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

FORMAT = "%(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
# C0 and C1 controls, DEL, and the line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Libraries whose DEBUG or INFO lines quote what they carry: statements with their bound
# values (emails, hashes), the tokens Authlib issues (« Issue token {…} »), request URLs
# and bodies (logout tokens), raw form parts.
QUIET = ("sqlalchemy", "authlib", "httpx", "httpcore", "multipart", "python_multipart", "aiosmtpd")
# The request's fields every line carries (JSON has the status and latency of the line per
# request besides); the text format shows them in this order, after the message.
FIELDS = ("request_id", "establishment", "client")


# An email address anywhere in a line (an SMTP server's refusal quotes the recipient).
_EMAIL = re.compile(r"([^\s@<>\"',;:(\[])[^\s@<>\"',;:(\[]*@([\w-]+(?:\.[\w-]+)+)")


def escape(text: str) -> str:
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def without_emails(text: str) -> str:
    """`jean.dupont@exemple.fr` → `j***@exemple.fr`, wherever it is in a finished line
    (tracebacks included): the last guard, whatever a message or an exception quoted."""
    return _EMAIL.sub(r"\1***@\2", text)


class RequestFields:
    """What every line a request causes says about it, read from the request's ASGI scope
    when a line is written: the establishment and the route are known once the router has
    matched, and the client's address is worked out only if a line needs it."""

    __slots__ = ("_client", "_client_of", "_scope", "method", "request_id")

    def __init__(
        self, request_id: str, scope: dict[str, Any], client_of: Callable[[], str | None]
    ) -> None:
        self.request_id = request_id
        self.method: str = scope["method"]
        self._scope = scope
        self._client_of = client_of
        self._client: str | None = None

    @property
    def establishment(self) -> str | None:
        params = self._scope.get("path_params")
        code = params.get("code") if params else None
        return code if isinstance(code, str) else None

    @property
    def route(self) -> str | None:
        """The route's path template (`/{code}/oidc/token`): bounded, and never a value."""
        route = self._scope.get("route")
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else None

    @property
    def client(self) -> str | None:
        if self._client is None:
            self._client = self._client_of()
        return self._client


# The request being served in this context (worker threads get a copy of it from anyio).
CURRENT: ContextVar[RequestFields | None] = ContextVar("idp_request", default=None)


class WithRequest(logging.Filter):
    """Copies the current request's fields onto each record (those the call did not set)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = CURRENT.get()
        if fields is not None:
            for name in ("request_id", "establishment", "client", "method", "route"):
                value = getattr(fields, name)
                if value is not None and not hasattr(record, name):
                    setattr(record, name, value)
        return True


class OneLineFormatter(logging.Formatter):
    """The message escaped, then the request's fields as `key=value`; a traceback, when
    there is one, keeps its own lines. No email address in full."""

    def format(self, record: logging.LogRecord) -> str:
        return without_emails(super().format(record))

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        line = super().formatMessage(record)
        fields = [
            f"{name}={escape(str(getattr(record, name)))}"
            for name in FIELDS
            if getattr(record, name, None) is not None
        ]
        return f"{line} [{' '.join(fields)}]" if fields else line


class _JsonLines(JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return without_emails(super().format(record))


def json_formatter() -> logging.Formatter:
    """`{"time": …, "level": …, "logger": …, "event": …, "request_id": …, …}`: the record's
    extra fields (the request's, a status, a latency) go in as they are. No email address
    in full."""
    return _JsonLines(
        "{levelname}{name}{message}",
        style="{",
        # uvicorn's copy of its message with terminal colours.
        reserved_attrs=[*RESERVED_ATTRS, "color_message"],
        rename_fields={"levelname": "level", "name": "logger", "message": "event"},
        timestamp="time",
        json_ensure_ascii=False,
    )


def configure(level: int | str, fmt: str = "text", *, replace: bool = False) -> None:
    """The root logger's handler. A no-op when one is already set (as basicConfig), unless
    `replace`: the server sets its own level and format over the CLI's."""
    root = logging.getLogger()
    if root.handlers and not replace:
        return
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter() if fmt == "json" else OneLineFormatter(FORMAT))
    handler.addFilter(WithRequest())
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
