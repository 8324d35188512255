"""Registration rules for redirect URIs (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §2.1).

Absolute, no fragment, https, except http on a loopback host (a module in development or a
native app, RFC 8252 §7.3); a private-use scheme (`fr.cpro.app:/cb`, RFC 8252 §7.1) only for
a public native client.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from idp.errors import InvalidRedirectUri
from idp.i18n import N_, Message
from idp.security.outbound import Outbound, Refused

_PRIVATE_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+")


def is_loopback_host(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate(uri: str, *, public: bool = False) -> str:
    def refuse(why: str) -> InvalidRedirectUri:
        return InvalidRedirectUri(
            "Adresse de redirection refusée : %(uri)s (%(why)s).",
            {"uri": uri, "why": Message(why)},
            detail=f"{uri!r}: {why}",
        )

    if uri != uri.strip() or any(c.isspace() for c in uri):
        raise refuse(N_("elle contient un espace"))
    if not all("!" <= c <= "~" and c not in '"\\' for c in uri):
        # A URI is ASCII (RFC 3986: percent-encode the rest); the authorization endpoint
        # refuses a redirect_uri holding anything else, so it could never be used.
        raise refuse(N_("les caractères accentués ou spéciaux doivent y être encodés (RFC 3986)"))
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise refuse(N_("ce n'est pas une adresse web valide")) from None
    if not parts.scheme:
        raise refuse(N_("il faut une adresse complète, commençant par https://"))
    if parts.fragment or "#" in uri:
        raise refuse(N_("elle ne doit pas contenir de #"))
    scheme = parts.scheme.lower()
    if scheme == "https":
        if not parts.hostname:
            raise refuse(N_("il y manque le nom du serveur"))
        return uri
    if scheme == "http":
        if not is_loopback_host(parts.hostname):
            raise refuse(
                N_(
                    "http n'est permis que pour la machine locale (127.0.0.1, localhost) : "
                    "utilisez https"
                )
            )
        return uri
    if public and _PRIVATE_SCHEME.fullmatch(scheme):
        return uri
    if _PRIVATE_SCHEME.fullmatch(scheme):
        raise refuse(
            N_(
                "un schéma propre à une application n'est permis que pour une application "
                "publique (mobile ou de bureau)"
            )
        )
    raise refuse(N_("il faut une adresse https"))


def matches(registered: str, presented: str, public: bool) -> bool:
    """Exact string comparison (RFC 9700 §4.1.3), except that a public native client's
    loopback redirect may use any port (RFC 8252 §7.3)."""
    if registered == presented:
        return True
    if not public:
        return False
    reg, pres = urlsplit(registered), urlsplit(presented)
    try:
        pres.port  # noqa: B018
    except ValueError:
        return False
    return (
        reg.scheme == pres.scheme == "http"
        and reg.hostname in ("127.0.0.1", "::1")
        and reg.hostname == pres.hostname
        and (reg.path, reg.query, reg.fragment) == (pres.path, pres.query, pres.fragment)
        and not pres.username
        and not pres.password
    )


def validate_outbound(uri: str, outbound: Outbound) -> str:
    """An address the provider itself calls (back-channel logout, a client's jwks_uri):
    https to a public host, never one of the provider's own network, in any notation, nor a
    name that resolves to one (SSRF; idp.security.outbound has the rules, and applies them
    again at each request). Loopback http only in development (a loopback IDP_BASE_URL)."""
    validate(uri)
    try:
        outbound.check_url(uri, resolve=True)
    except Refused as exc:
        raise InvalidRedirectUri(
            # Without the address: the form shows it, and a `%` in it would break the
            # message's formatting in the page.
            "Adresse refusée : le fournisseur n'appelle qu'une adresse https d'un serveur "
            "public, jamais une adresse locale, privée ou réservée.",
            detail=f"{uri!r}: refused, {exc.reason}",
        ) from None
    return uri
