"""Hostile input on the forms, found by the fuzz (tests/fuzz), spelled out as plain tests."""

from __future__ import annotations

import gc
import sys
from typing import Any

import pytest


@pytest.mark.parametrize("path", ["login", "password/forgot", "admin/import"])
def test_an_uploaded_file_is_closed_whatever_the_handler_does_with_it(client, school, path):
    # A file sent to a form that takes none, or refused before it is read (no CSRF token):
    # its spooled temporary file used to stay open until the garbage collector found it.
    unraisable: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        response = client.post(
            f"/{school}/{path}",
            data={"login": "x"},
            files={"file": ("eleves.csv", b"nom;prenom\n", "text/csv")},
        )
        assert response.status_code < 500
        gc.collect()
    finally:
        sys.unraisablehook = previous
    leaks = [str(u.exc_value) for u in unraisable if isinstance(u.exc_value, ResourceWarning)]
    assert leaks == []
