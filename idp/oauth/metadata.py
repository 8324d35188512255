"""Discovery (OpenID Connect Discovery 1.0 §3, RFC 8414 §2), computed from what the server
has registered so that it cannot drift from what the server really does."""

from __future__ import annotations

from typing import Any

from idp.oauth.keys import ALGORITHMS
from idp.oauth.scopes import CLAIMS, SCOPES
from idp.oauth.server import EstablishmentServer


def metadata(server: EstablishmentServer) -> dict[str, Any]:
    issuer = server.issuer
    grants = [*server._authorization_grants, *server._token_grants]
    grant_types = list(dict.fromkeys(cls.GRANT_TYPE for cls, _ in grants if cls.GRANT_TYPE))
    response_types = sorted(
        {t for cls, _ in server._authorization_grants for t in cls.RESPONSE_TYPES}
    )
    auth_methods = list(
        dict.fromkeys(m for cls, _ in server._token_grants for m in cls.TOKEN_ENDPOINT_AUTH_METHODS)
    )
    return {
        "issuer": issuer,
        "authorization_endpoint": server.endpoint("authorize"),
        "token_endpoint": server.endpoint("token"),
        "userinfo_endpoint": server.endpoint("userinfo"),
        "jwks_uri": server.endpoint("jwks"),
        "revocation_endpoint": server.endpoint("revoke"),
        "revocation_endpoint_auth_methods_supported": endpoint_methods(server, "revocation"),
        "introspection_endpoint": server.endpoint("introspect"),
        "introspection_endpoint_auth_methods_supported": endpoint_methods(server, "introspection"),
        "end_session_endpoint": server.endpoint("end_session"),
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "response_types_supported": response_types,
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": grant_types,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "token_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(SCOPES),
        "claims_supported": [*CLAIMS, "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["fr", "en"],
        "authorization_response_iss_parameter_supported": True,
    }


def endpoint_methods(server: EstablishmentServer, name: str) -> list[str]:
    return [m for endpoint in server._endpoints.get(name, []) for m in endpoint.CLIENT_AUTH_METHODS]
