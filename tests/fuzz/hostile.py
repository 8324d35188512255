"""Hypothesis strategies for hostile input: parameter values that are not UTF-8, hold NUL
or are huge, parameters repeated, bodies in the wrong content type, broken Basic headers,
and JWTs that are truncated, unsigned (`alg: none`) or signed with claims of the wrong type."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from typing import Any
from urllib.parse import quote_from_bytes

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

# Each test's budget: a fixed number of examples from a seed fixed by the test's name, and
# no example database, so that every run (and CI) tries the same inputs. IDP_FUZZ_EXAMPLES
# raises it for a deeper search by hand (IDP_FUZZ_RANDOM=1: other inputs at each run).
BUDGET = settings(
    max_examples=int(os.environ.get("IDP_FUZZ_EXAMPLES", "100")),
    deadline=None,
    derandomize=os.environ.get("IDP_FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Values that broke parsers somewhere once: empty, NUL, bytes that are no UTF-8, lone
# surrogates as UTF-8 would spell them, quotes and backslashes (error descriptions), huge.
NASTY: list[bytes] = [
    b"",
    b"\x00",
    b"a\x00b",
    b"\xff\xfe",
    b"\xc3",
    b"\xed\xa0\x80",
    b"%",
    b"%zz",
    b"%00",
    b'"',
    b"\\",
    b"\r\n",
    b"\t",
    b"\xc3\xa9l\xc3\xa8ve",
    b"../../etc/passwd",
    b"javascript:alert(1)",
    b"a" * 5000,
    b"9" * 400,
    b"-1",
    b"1e309",
    b"null",
    b"[]",
    b"{}",
    b"openid email profile cpro offline_access",
    b"https://sti.cpro.example/callback",
    b"code",
    b"S256",
    b"plain",
]

value = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=30).map(lambda t: t.encode()),
    st.binary(max_size=30),
)


def params(keys: list[str], extra: dict[str, st.SearchStrategy[bytes]] | None = None):  # type: ignore[no-untyped-def]
    """A list of (name, value) pairs: the endpoint's own names (some repeated) and others."""
    extra = extra or {}

    def value_for(name: bytes) -> st.SearchStrategy[bytes]:
        special = extra.get(name.decode("latin-1"))
        return st.one_of(special, value) if special is not None else value

    name = st.one_of(
        st.sampled_from([k.encode() for k in keys]), st.binary(max_size=10), st.just(b"")
    )
    return st.lists(name, max_size=8).flatmap(
        lambda names: st.tuples(*(st.tuples(st.just(n), value_for(n)) for n in names)).map(list)
    )


def urlencoded(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"&".join(
        quote_from_bytes(k, safe="").encode() + b"=" + quote_from_bytes(v, safe="").encode()
        for k, v in pairs
    )


def raw(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """Not percent-encoded at all: bytes that are no UTF-8 go as they are."""
    return b"&".join(k + b"=" + v for k, v in pairs)


def multipart(pairs: list[tuple[bytes, bytes]], boundary: bytes = b"fuzzboundary") -> bytes:
    parts = [
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="'
        + k.replace(b'"', b"")
        + b'"\r\n\r\n'
        + v
        + b"\r\n"
        for k, v in pairs
    ]
    return b"".join(parts) + b"--" + boundary + b"--\r\n"


CONTENT_TYPES: list[bytes | None] = [
    b"application/x-www-form-urlencoded",
    b"application/x-www-form-urlencoded; charset=utf-8",
    b"application/x-www-form-urlencoded; charset=latin-1",
    b"application/x-www-form-urlencoded; charset=nonsense",
    b"multipart/form-data; boundary=fuzzboundary",
    b"multipart/form-data",
    b"multipart/form-data; boundary=",
    b"application/json",
    b"text/plain",
    b"application/octet-stream",
    b"*/*",
    b";;;",
    b"\xff\xfe",
    None,
]


@st.composite
def body(draw, pairs: list[tuple[bytes, bytes]]) -> tuple[bytes, dict[str, bytes]]:  # type: ignore[no-untyped-def]
    """A body for these pairs, in one encoding or another, under a content type that may
    or may not be its own."""
    encoding = draw(st.sampled_from(["urlencoded", "raw", "multipart", "json", "binary"]))
    if encoding == "urlencoded":
        data = urlencoded(pairs)
    elif encoding == "raw":
        data = raw(pairs)
    elif encoding == "multipart":
        data = multipart(pairs)
    elif encoding == "json":
        data = json.dumps({k.decode("latin-1"): v.decode("latin-1") for k, v in pairs}).encode()
    else:
        data = draw(st.binary(max_size=200))
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    headers = {} if content_type is None else {"content-type": content_type}
    return data, headers


# -- Authorization headers -------------------------------------------------------------------

# Header values may hold anything but CR, LF and NUL (the HTTP server refuses those).
header_text = st.binary(max_size=60).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"")
)


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def basic_headers(client_id: str, secret: str) -> st.SearchStrategy[bytes]:
    good = f"{client_id}:{secret}".encode()
    return st.one_of(
        st.just(b"Basic " + b64(good)),
        st.binary(max_size=40).map(lambda b: b"Basic " + b64(b)),  # any bytes, even no colon
        st.binary(max_size=40).map(lambda b: b"Basic " + b64(client_id.encode() + b":" + b)),
        st.sampled_from(
            [
                b"Basic",
                b"Basic ",
                b"Basic =",
                b"Basic !!!!",
                b"Basic " + b64(b"\xff\xfe:\xff"),
                b"Basic " + b64(b"%zz:%zz"),
                b"Basic " + b64(b":"),
                b"Basic " + b64(b"::::"),
                b"Basic " + b64(good)[:-3],
                b"basic " + b64(good),
                b"BASIC " + b64(good),
                b"Basic  " + b64(good),
                b"Basic " + b64(good) + b" trailing",
                b"Bearer " + b64(good),
                b"Digest username=x",
            ]
        ),
        header_text.map(lambda b: b"Basic " + b),
        header_text,
    )


# -- JWTs ------------------------------------------------------------------------------------


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def unsigned(header: Any, claims: Any) -> bytes:
    return b64url(json.dumps(header).encode()) + b"." + b64url(json.dumps(claims).encode()) + b"."


def signed(key: ECKey | RSAKey, header: dict[str, Any], payload: bytes) -> bytes:
    """Signed for real, whatever the payload holds: its claims reach the code that reads them."""
    return jws.serialize_compact(header, payload, key).encode()


# Claims whose types are not what a JWT's should be.
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
CLAIMS = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "sid", "typ"]


def claims_for(base: dict[str, Any]):  # type: ignore[no-untyped-def]
    """`base` with some claims replaced by values of the wrong type, some removed."""
    return st.tuples(
        st.dictionaries(st.sampled_from(CLAIMS), WRONG, max_size=4),
        st.sets(st.sampled_from(CLAIMS), max_size=3),
    ).map(lambda t: {k: v for k, v in {**base, **t[0]}.items() if k not in t[1] or k in t[0]})


def jwts(key: ECKey | RSAKey, alg: str, base: dict[str, Any], typ: str | None = None):  # type: ignore[no-untyped-def]
    """JWTs that look like a real one: signed with wrong claims, truncated, unsigned,
    with a bad header, or not a JWT at all."""
    header: dict[str, Any] = {"alg": alg, "kid": key.kid}
    if typ:
        header["typ"] = typ
    good = signed(key, header, json.dumps(base).encode())
    wrong_header = st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "jku", "x5u", "b64"]), WRONG, max_size=3
    )
    return st.one_of(
        claims_for(base).map(lambda c: signed(key, header, json.dumps(c).encode())),
        st.integers(min_value=0, max_value=len(good) - 1).map(lambda n: good[:n]),
        claims_for(base).map(lambda c: unsigned({"alg": "none", "typ": typ or "JWT"}, c)),
        st.sampled_from(["none", "None", "NONE", "HS256", "RS512", "", "ES256K"]).map(
            lambda a: unsigned({"alg": a, "kid": key.kid}, base) + b"c2ln"
        ),
        wrong_header.map(lambda h: unsigned({**header, **h}, base) + good.rsplit(b".", 1)[1]),
        st.sampled_from(
            [
                b"",
                b".",
                b"..",
                b"...",
                b"a.b.c",
                b"a.b",
                b64url(b"null") + b"." + b64url(b"null") + b".",
                b64url(b"[]") + b"." + b64url(b"{}") + b".",
                b64url(b'{"alg":"ES256"}') + b"." + b64url(b"\xff\xfe") + b".AAAA",
                b64url(b'{"alg":"ES256"}') + b"." + b64url(b"12") + b".AAAA",
                b"e30.e30.e30.e30.e30",  # five parts: JWE-shaped
            ]
        ),
        st.binary(max_size=40).map(b64url),
        st.sampled_from(
            [
                signed(key, header, b"not json"),
                signed(key, header, b"\xff\xfe"),
                signed(key, header, b"[1, 2]"),
                signed(key, header, b'"text"'),
                signed(key, header, b"1e999"),
                signed(key, header, json.dumps({**base, "exp": 10**30}).encode()),
                signed(key, header, json.dumps({**base, "exp": 1e308}).encode()),
                signed(key, header, json.dumps({**base, "iat": -(10**30)}).encode()),
            ]
        ),
    )


def assertion_claims(client_id: str, audience: str) -> dict[str, Any]:
    now = int(time.time())  # assertions are checked against the wall clock
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 120,
        "jti": str(uuid.uuid4()),
    }
