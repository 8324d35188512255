"""The adapter between Starlette requests and Authlib's: the parameters are read on the event
loop (the body is async), then Authlib works on this plain object in a worker thread."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from sqlalchemy.orm import Session
from starlette.datastructures import MultiDict
from starlette.exceptions import HTTPException
from starlette.requests import Request

from idp.db import UnitOfWork
from idp.oauth.redirect_uris import is_loopback_host


class Payload(OAuth2Payload):
    def __init__(self, values: MultiDict) -> None:
        self._values = values

    # Computed once: Authlib reads them dozens of times a request, and they never change.

    @cached_property
    def data(self) -> dict[str, Any]:
        # The first value of each parameter; duplicates are visible in `datalist`.
        data: dict[str, Any] = {}
        for key, value in self._values.multi_items():
            data.setdefault(key, value)
        return data

    @cached_property
    def datalist(self) -> defaultdict[str, list[str]]:
        values: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in self._values.multi_items():
            values[key].append(value)
        return values


class OAuthRequest(OAuth2Request):
    """Also carries the request's unit of work, which the server binds for its hooks; its
    session (`db`) is opened at first use, so that a request its caches answer (a
    client_credentials grant) opens none."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: MultiDict,
        form: MultiDict,
        uow: UnitOfWork,
    ) -> None:
        # Authlib refuses http URLs; we allow them on a loopback host only (development),
        # as the settings do for IDP_BASE_URL.
        if not is_loopback_host(urlsplit(uri).hostname):
            InsecureTransportError.check(uri)
        self.uow = uow
        self.method = method
        self.uri = uri
        self.headers = headers
        self._body = None
        self._query = query
        self._form = form
        # Parameters come from the query of a GET and from the body of a POST, never mixed.
        self.payload = Payload(query if method == "GET" else form)
        self.client = None
        self.auth_method = None
        self.user = None
        self.authorization_code = None
        self.refresh_token = None
        self.credential = None
        self._scope = None

    @property
    def db(self) -> Session:
        return self.uow.session

    @property
    def args(self) -> dict[str, Any]:
        return dict(self._query)

    @property
    def form(self) -> dict[str, Any]:
        return dict(self._form)


# As many fields as Starlette's form parser takes.
MAX_FIELDS = 1000


async def from_starlette(request: Request, uri: str, uow: UnitOfWork) -> OAuthRequest:
    """Read everything Authlib needs, on the event loop; `uri` is the public URL."""
    form = MultiDict()
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = MultiDict(_urlencoded(await request.body()))
    query = MultiDict(request.query_params.multi_items())
    return OAuthRequest(request.method, uri, request.headers, query, form, uow)


def from_params(
    params: Mapping[str, str], uri: str, headers: Mapping[str, str], uow: UnitOfWork
) -> OAuthRequest:
    """A stored authorization request, replayed after sign-in."""
    return OAuthRequest("GET", uri, headers, MultiDict(params), MultiDict(), uow)


def _urlencoded(body: bytes) -> list[tuple[str, str]]:
    """The fields of a urlencoded body, as Starlette's form parser reads them (names and
    values taken as Latin-1, then percent-decoded as UTF-8), at a fraction of its cost: a
    module's token request is the hottest path there is. BodyLimit has bounded the body."""
    try:
        return parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:  # more fields than MAX_FIELDS
        raise HTTPException(
            400, f"Too many fields. Maximum number of fields is {MAX_FIELDS}."
        ) from None
