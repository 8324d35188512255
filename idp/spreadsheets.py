"""CSV files for people, who open them in a spreadsheet (Excel, LibreOffice Calc).

A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` (or a tab or carriage return
before one) as a formula: a name such as `=HYPERLINK("https://…")` in an export would become
a live link or worse on the admin's computer. Every cell we write that begins with one of
those characters is prefixed with `'`, which spreadsheets show as text (OWASP, CSV
injection); `restore` undoes it when such a file comes back to the importer. A text that
already begins with quotes before such a character gets one more, so that `restore` gives
back exactly what was written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralise(value: object) -> str:
    text = "" if value is None else str(value)
    return QUOTE + text if text.lstrip(QUOTE).startswith(FORMULA_LEADS) else text


def restore(cell: str) -> str:
    """A cell read back from a file we wrote: without the quote that `neutralise` added."""
    if cell.startswith(QUOTE) and cell.lstrip(QUOTE).startswith(FORMULA_LEADS):
        return cell[1:]
    return cell


def write(header: Iterable[object], rows: Iterable[Iterable[object]]) -> str:
    """Semicolons and CRLF, for French spreadsheets; every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in header])
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return out.getvalue()
