"""OAuth 2.0 / OpenID Connect: Authlib subclasses and the protocol rules we add to them."""
