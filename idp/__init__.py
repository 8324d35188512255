"""CPRO Connect: the OpenID Connect identity provider of CPRO éducation."""

__version__ = "0.1.0"
