"""An establishment's look: its admin sets a logo (PNG, JPEG or WebP, at most 200 KB, never
SVG) and an accent colour dark enough for white text; every page of that establishment, and
of no other, shows them."""

from __future__ import annotations

import re
import struct
import zlib
from html import unescape

import pytest

from helpers import csrf_from, sign_in
from idp.services import accounts

ADMIN_PASSWORD = "le proviseur arrose les géraniums"


def png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x1d\x4f\x91" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def admin_client(client, rt, school):  # type: ignore[no-untyped-def]
    rt.run(accounts.set_password, school, "0750655e", ADMIN_PASSWORD, temporary=False)
    assert sign_in(client, school, "0750655E", ADMIN_PASSWORD).status_code == 303
    return client


def change(client, school, *, logo=None, name="logo.png", **fields):  # type: ignore[no-untyped-def]
    page = client.get(f"/{school}/admin/look")
    files = {"logo": (name, logo, "application/octet-stream")} if logo is not None else None
    data = {"csrf_token": csrf_from(page.text), **fields}
    if files is None:  # a form with a file field left empty, as a browser sends it
        files = {"logo": ("", b"", "application/octet-stream")}
    return client.post(f"/{school}/admin/look", data=data, files=files)


def test_a_logo_and_a_colour_show_on_every_page_of_the_establishment(
    admin_client, client, school, other_school
):
    image = png()
    done = change(admin_client, school, logo=image, accent="#1E6B3A")
    assert done.status_code == 303 and done.headers["location"] == f"/{school}/admin/look"
    assert "Apparence enregistrée" in unescape(admin_client.get(done.headers["location"]).text)
    admin_client.cookies.clear()
    page = admin_client.get(f"/{school}/login").text
    logo = re.search(r'<img class="logo" src="(/lp-a/logo\?v=\d+)" alt="">', page)
    theme = re.search(r'<link rel="stylesheet" href="(/lp-a/theme\.css\?v=\d+)">', page)
    assert logo and theme
    served = admin_client.get(logo.group(1))
    assert served.content == image and served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "img-src 'self'" in admin_client.get(f"/{school}/login").headers[
        "content-security-policy"
    ]
    css = admin_client.get(theme.group(1))
    assert css.headers["content-type"].startswith("text/css")
    assert "--blue: #1e6b3a" in css.text
    # Nothing of it at another establishment.
    other = admin_client.get(f"/{other_school}/login").text
    assert 'class="logo"' not in other and "theme.css" not in other
    assert admin_client.get(f"/{other_school}/logo").status_code == 404


@pytest.mark.parametrize(
    ("logo", "name", "said"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "l.svg",
         "le SVG n'est pas accepté"),
        (b"GIF89a" + b"\x00" * 20, "l.gif", "PNG, JPEG ou WebP"),
        (png()[:8] + b"\x00" * (200 * 1024), "big.png", "200 Ko au plus"),
    ],
)  # fmt: skip
def test_a_logo_that_is_not_a_small_png_jpeg_or_webp_is_refused(
    admin_client, school, logo, name, said
):
    refused = change(admin_client, school, logo=logo, name=name)
    assert refused.status_code == 400 and said in unescape(refused.text)
    assert admin_client.get(f"/{school}/logo").status_code == 404


@pytest.mark.parametrize(
    ("colour", "said"),
    [("#ffdd00", "trop claire"), ("#7f9fbf", "trop claire"), ("bleu", "Couleur invalide")],
)
def test_a_colour_white_text_cannot_be_read_on_is_refused(admin_client, school, colour, said):
    refused = change(admin_client, school, accent=colour)
    assert refused.status_code == 400 and said in unescape(refused.text)
    assert "theme.css" not in admin_client.get(f"/{school}/login").text


def test_the_logo_can_be_removed_and_the_colour_reset(admin_client, school):
    change(admin_client, school, logo=png(), accent="#5b2a86")
    change(admin_client, school, remove_logo="1", default_accent="1")
    assert admin_client.get(f"/{school}/logo").status_code == 404
    page = admin_client.get(f"/{school}/login").text
    assert 'class="logo"' not in page and "theme.css" not in page
