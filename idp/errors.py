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


class IdpError(Exception):
    status_code = 500

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Only ever logged: may name internals, never a secret.
        self.detail = detail or message


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
