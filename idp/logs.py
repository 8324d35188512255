"""How the provider's log lines are written: one event a line, whatever its values hold.

Messages quote what people and modules sent (a path, a redirect URI, a login): a newline or
a terminal escape in them must not forge a second line or repaint an operator's terminal.
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(levelname)s %(name)s: %(message)s"
# C0 and C1 controls, DEL, and the line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape(text: str) -> str:
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class OneLineFormatter(logging.Formatter):
    """The message escaped; a traceback, when there is one, keeps its own lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)


def configure(level: int | str) -> None:
    """The root logger's handler (a no-op when one is already set, as basicConfig)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
