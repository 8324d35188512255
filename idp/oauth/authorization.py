"""The authorization endpoint's decision (RFC 6749 §4.1.1, OpenID Connect Core 1.0 §3.1.2):
a table of small steps, each checking one rule, run in order until one of them answers.

An answer is either a refusal (an OAuth error, sent back to the module when its redirect URI
is known, shown to the person otherwise), an interaction the person must go through first
(sign in, approve a module), or, when no step objects, the grant: a code for the module.
The web layer parses the request, runs `decide` and turns the answer into a response;
sign-in and consent are interactions outside this engine, which resume the stored request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError

from idp.models import Client
from idp.oauth.access_tokens import verify_id_token_hint
from idp.oauth.requests import OAuthRequest
from idp.oauth.server import CodeGrant, EstablishmentServer, OAuthResponse
from idp.store import audit, authorizations
from idp.store.audit import EventType
from idp.store.sessions import Live

# The largest `claims` parameter we parse (OIDC Core §5.5); real ones are a few hundred bytes.
MAX_CLAIMS_LENGTH = 4096


@dataclass
class Ask:
    """An authorization request under decision: what the steps read, and what they find."""

    server: EstablishmentServer
    request: OAuthRequest
    # The browser's signed-in session at this establishment, if any.
    session: Live | None
    now: datetime
    # When the first step of a resumed request began (the sign-in or consent it went
    # through happened after it); None for a request straight from the module.
    not_before: datetime | None = None
    grant: CodeGrant | None = None
    prompts: frozenset[str] = field(default_factory=frozenset)
    # The claims of a valid `id_token_hint`.
    hinted: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        return self.request.payload.data

    @property
    def redirect_uri(self) -> str:
        assert self.grant is not None
        return self.grant.redirect_uri

    @property
    def client(self) -> Client:
        assert self.grant is not None
        return self.grant.request.client


@dataclass(frozen=True)
class Refused:
    """An OAuth error; sent to the module only if `error.redirect_uri` is set."""

    error: OAuth2Error


@dataclass(frozen=True)
class Interaction:
    """The person must sign in, or approve the module, before the request can go on."""

    kind: Literal["login", "consent"]


@dataclass(frozen=True)
class Granted:
    response: OAuthResponse


Outcome = Refused | Interaction | Granted
Step = Callable[[Ask], Refused | Interaction | None]


# Parameters Authlib repeats in its error descriptions, which RFC 6749 §5.2 limits to
# printable ASCII without `"` and `\`: Authlib then refuses to build the error at all.
_ECHOED = ("client_id", "redirect_uri", "response_type", "response_mode", "scope")


def _describable(value: str) -> bool:
    return _DESCRIBABLE.fullmatch(value) is not None


# Printable ASCII (space to `~`) but `"` and `\`.
_DESCRIBABLE = re.compile(r'[ !#-\[\]-~]*')


def check_characters(ask: Ask) -> Refused | None:
    """A parameter that no error description may quote is refused on the page, before the
    redirect URI is trusted: no registered redirect URI or client id holds such a
    character, and no response type or scope does either."""
    for name in _ECHOED:
        value = ask.data.get(name)
        if isinstance(value, str) and not _describable(value):
            return Refused(InvalidRequestError(f"Invalid '{name}'."))
    return None


def validate_request(ask: Ask) -> Refused | None:
    """Client, redirect URI, response type, scope, PKCE and the OIDC parameters that
    Authlib checks (RFC 6749 §4.1.2.1: without a valid redirect URI, never redirect)."""
    user = ask.session.user if ask.session else None
    try:
        ask.grant = ask.server.get_consent_grant(ask.request, user)
    except OAuth2Error as error:
        if error.redirect_uri and not ask.data.get("response_type"):
            # A missing parameter is invalid_request (RFC 6749 §4.1.2.1), not an unsupported
            # response type as Authlib says.
            error = InvalidRequestError("Missing 'response_type'.", redirect_uri=error.redirect_uri)
        return Refused(error)
    ask.prompts = frozenset((ask.data.get("prompt") or "").split())
    return None


def check_max_age(ask: Ask) -> Refused | None:
    if max_age_of(ask) is False:
        return Refused(InvalidRequestError("Invalid 'max_age'.", redirect_uri=ask.redirect_uri))
    return None


def check_claims(ask: Ask) -> Refused | None:
    """The `claims` parameter (OIDC Core §5.5) must be a JSON object of a sane size."""
    raw = ask.data.get("claims")
    if not raw:
        return None
    try:
        if len(raw) > MAX_CLAIMS_LENGTH or not isinstance(json.loads(raw), dict):
            raise ValueError
    except (ValueError, RecursionError):
        error = InvalidRequestError("Invalid 'claims' parameter.", redirect_uri=ask.redirect_uri)
        return Refused(error)
    return None


def check_id_token_hint(ask: Ask) -> Refused | None:
    """An `id_token_hint` must be an ID token this issuer signed (OIDC Core §3.1.2.1)."""
    hint = ask.data.get("id_token_hint")
    if not hint:
        return None
    ask.hinted = verify_id_token_hint(ask.server, ask.request.db, hint)
    if ask.hinted is None:
        error = InvalidRequestError("Invalid 'id_token_hint'.", redirect_uri=ask.redirect_uri)
        return Refused(error)
    return None


def check_login(ask: Ask) -> Refused | Interaction | None:
    """A sign-in is needed without a session, for another user than the hinted one, for
    `prompt=login` (once), or when the last sign-in is older than `max_age`."""
    session = ask.session
    max_age = max_age_of(ask)
    needed = (
        session is None
        or (ask.hinted is not None and ask.hinted["sub"] != session.user.sub)
        or (
            "login" in ask.prompts
            and (ask.not_before is None or session.auth_time < ask.not_before)
        )
        or (isinstance(max_age, int) and ask.now - session.auth_time > timedelta(seconds=max_age))
    )
    if not needed:
        return None
    if "none" in ask.prompts:
        return Refused(LoginRequiredError(redirect_uri=ask.redirect_uri))
    return Interaction("login")


def check_consent(ask: Ask) -> Refused | Interaction | None:
    """A third-party module (or `prompt=consent`) needs the person's approval of every
    scope it asks for; after a consent page, that very approval."""
    if not ask.client.third_party and "consent" not in ask.prompts:
        return None
    assert ask.session is not None and ask.grant is not None
    db = ask.request.db
    row = authorizations.consent(db, ask.server.establishment(db), ask.session.id, ask.client.id)
    approved = (
        row is not None
        and (ask.not_before is None or row.created_at >= ask.not_before)
        and set(ask.grant.request.scope.split()) <= set(row.scope.split())
    )
    if approved and not ("consent" in ask.prompts and ask.not_before is None):
        return None
    if "none" in ask.prompts:
        return Refused(ConsentRequiredError(redirect_uri=ask.redirect_uri))
    return Interaction("consent")


STEPS: tuple[Step, ...] = (
    check_characters,
    validate_request,
    check_max_age,
    check_claims,
    check_id_token_hint,
    check_login,
    check_consent,
)


def decide(ask: Ask) -> Outcome:
    """Run the steps; if none objects, issue the code. Blocking: call from a worker thread."""
    for step in STEPS:
        outcome = step(ask)
        if outcome is not None:
            return outcome
    session, grant = ask.session, ask.grant
    assert session is not None and grant is not None
    request = ask.request
    request.user = session.user
    request.sso_session_id = session.id
    request.auth_time = session.auth_time
    response = ask.server.create_authorization_response(request, session.user, grant)
    db = request.db
    audit.record(
        db,
        ask.server.establishment(db),
        EventType.AUTHORIZE_CODE_ISSUED,
        at=ask.now,
        subject=session.user.login,
        details={"client_id": ask.client.client_id},
    )
    return Granted(response)


def max_age_of(ask: Ask) -> int | Literal[False] | None:
    """The `max_age` parameter in seconds, None if absent, False if malformed."""
    raw = ask.data.get("max_age")
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        return False
    return value if 0 <= value <= 10**9 else False


def error_response(
    server: EstablishmentServer, request: OAuthRequest, error: OAuth2Error
) -> OAuthResponse:
    """The error as the module receives it: with its `state`, and the issuer (RFC 9207)."""
    error.state = request.payload.data.get("state")
    response = server.handle_error_response(request, error)
    if response.location:
        response.location = add_params_to_uri(response.location, [("iss", server.issuer)])
    return response
