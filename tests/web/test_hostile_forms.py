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


def test_an_upload_cut_short_is_refused_and_leaves_no_file_open(admin_client, school):
    """No closing boundary: Starlette's parser would return the form without the file and
    leave its temporary file to the collector (a ResourceWarning, an error here)."""
    token = csrf_from(admin_client.get(f"/{school}/admin/import").text)
    body = (
        b"--xyz\r\n"
        b'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
        + token.encode()
        + b"\r\n--xyz\r\n"
        b'Content-Disposition: form-data; name="file"; filename="eleves.csv"\r\n\r\n'
        b"Nom;Pr\xc3\xa9nom;Date de naissance\r\nMartin;L\xc3\xa9a;14/03/2009"
    )
    response = admin_client.post(
        f"/{school}/admin/import",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code == 400
    assert "pas été reçu en entier" in response.text
    gc.collect()  # an unclosed temporary file would warn now
