"""Hostile input on the forms, found by the fuzz (tests/fuzz), spelled out as plain tests."""

from __future__ import annotations

import gc
import sys
from typing import Any

import pytest

from helpers import csrf_from, sign_in
from idp.services import accounts


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


ADMIN_PASSWORD = "un admin bien gardé ici"


@pytest.fixture
def admin_client(client, rt, school):  # type: ignore[no-untyped-def]
    rt.run(accounts.set_password, school, "0750655e", ADMIN_PASSWORD, temporary=False)
    assert sign_in(client, school, "0750655E", ADMIN_PASSWORD).status_code == 303
    return client


def test_saving_an_unknown_client_is_not_found(admin_client, school):
    token = csrf_from(admin_client.get(f"/{school}/admin/clients/new").text)
    response = admin_client.post(
        f"/{school}/admin/clients/no-such-client", data={"csrf_token": token}
    )
    assert response.status_code == 404
