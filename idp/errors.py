"""Our error tree (protocol errors are Authlib's classes, not these).

IdpError                  public message (French, for people) + private detail (logs only)
├── InvalidInput          bad input from a person or the CLI: 400 page, CLI exit 2
│   ├── InvalidLogin      a name that yields no login
│   └── InvalidRedirectUri
├── Forbidden             the person acting may not do this (a teacher, to another teacher): 403
├── NotFound              unknown establishment, user or client: 404
├── Conflict              already exists (code, UAI, login): 409, CLI exit 2
├── Unavailable           a dependency is down or saturated: 503
│   └── MailError         the message could not be handed to the mail server
└── ConfigurationError    a bad setting: one line at start-up, exit 2
"""

from __future__ import annotations

from collections.abc import Mapping

from idp.i18n import Message


class IdpError(Exception):
    """`message` is a constant French text (a message id); what a person typed goes in
    `params` (`%(name)s` in the text), so that a page escapes it and a `%` in it is only text.
    """

    status_code = 500

    def __init__(
        self,
        message: str,
        params: Mapping[str, object] | None = None,
        *,
        detail: str | None = None,
    ) -> None:
        self.text = message
        self.params = dict(params or {})
        # The French text in full, for a terminal or a test; pages show `public` instead.
        self.message = message % self.params if self.params else message
        super().__init__(self.message)
        # Only ever logged: may name internals, never a secret.
        self.detail = detail or self.message

    @property
    def public(self) -> Message:
        """What a page shows: translated, then the parameters put in as escaped text."""
        return Message(self.text, self.params)


class InvalidInput(IdpError):
    status_code = 400


class InvalidLogin(InvalidInput):
    pass


class InvalidRedirectUri(InvalidInput):
    pass


class Forbidden(IdpError):
    status_code = 403


class NotFound(IdpError):
    status_code = 404


class Conflict(IdpError):
    status_code = 409


class Unavailable(IdpError):
    status_code = 503


class MailError(Unavailable):
    pass


class ConfigurationError(IdpError):
    pass
