"""Initial passwords are the birth date (help page): students `jjmmaaaa`, teachers and staff
`aaaa-mm-jj`. An account on its initial password stores no hash; the password is derived from
the stored birth date and compared in constant time.

Generated passwords (the admin account's initial one, temporary ones) use an alphabet without
look-alike characters, in groups of four so that they can be read out and typed.
"""

from __future__ import annotations

import hmac
import secrets
import string
from datetime import date
from enum import StrEnum

from idp.accounts.roles import Role


class InitialPasswords(StrEnum):
    """What an establishment gives new accounts and resets (its admin chooses)."""

    # The help page's rule: « votre mot de passe correspond à votre date de naissance ».
    BIRTH_DATE = "birth_date"
    # A random « mot de passe initial » printed on a slip, valid for a while (what the
    # national pupil account does): nobody who knows a pupil's birth date can use it.
    RANDOM = "random"


GENERATED_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz"
_GROUPS = 3
_GROUP_LENGTH = 4


def initial_password(role: Role, birth_date: date) -> str:
    if role is Role.STUDENT:
        # Not strftime("%d%m%Y"): glibc does not pad years before 1000 to four digits.
        return f"{birth_date.day:02d}{birth_date.month:02d}{birth_date.year:04d}"
    if role in (Role.TEACHER, Role.STAFF):
        return birth_date.isoformat()
    raise ValueError(f"the {role} account has no birth-date password")


def matches_initial(role: Role, birth_date: date, typed: str) -> bool:
    return hmac.compare_digest(initial_password(role, birth_date).encode(), typed.encode())


def generate_password() -> str:
    """12 characters from GENERATED_ALPHABET, at least one digit, as `xxxx-xxxx-xxxx`."""
    while True:
        chars = [secrets.choice(GENERATED_ALPHABET) for _ in range(_GROUPS * _GROUP_LENGTH)]
        if any(c in string.digits for c in chars):
            break
    groups = ("".join(chars[i : i + _GROUP_LENGTH]) for i in range(0, len(chars), _GROUP_LENGTH))
    return "-".join(groups)


def as_generated(typed: str) -> str:
    """A generated password as it was made (`xxxx-xxxx-xxxx`) when `typed` is one without
    its hyphens, or with spaces in place of them or around it (as read out or copied from
    an email: the email says that they do not matter); otherwise `typed` unchanged."""
    bare = "".join(c for c in typed if c != "-" and not c.isspace())
    if len(bare) != _GROUPS * _GROUP_LENGTH or any(c not in GENERATED_ALPHABET for c in bare):
        return typed
    return "-".join(bare[i : i + _GROUP_LENGTH] for i in range(0, len(bare), _GROUP_LENGTH))
