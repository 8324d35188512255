"""What a new password must be, in the spirit of the CNIL recommendation on passwords
(deliberation 2022-100, case of an account protected by throttling) and NIST SP 800-63B
§3.1.1.2: a length and a guessability estimate rather than composition rules.

- 8 to 128 characters (minimum configurable); spaces allowed, so passphrases work;
- no composition rule (no "one digit, one capital");
- not the current password, not containing the login, the first or last name, nor the birth
  date in any usual format;
- not a common password (our French list and zxcvbn's);
- zxcvbn score ≥ 3 by default (≥ 10^8 guesses): a deliberate floor, since online guessing is
  throttled and offline guessing meets argon2id.

Each refusal says why, in words a teenager understands, and how to make a passphrase, without
an example that could be copied: a class would copy it. Every example these pages ever showed
is refused (EXAMPLES).
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from idp.accounts.logins import ascii_fold, name_part
from idp.accounts.roles import Role
from idp.i18n import N_, Message

MAX_LENGTH = 128
_WORDS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Refusal:
    code: str
    message: Message


@dataclass(frozen=True)
class PasswordOwner:
    login: str
    first_name: str
    last_name: str
    birth_date: date | None
    # Not a rule's input: whom a page greets (the admin account has no first name of its own).
    role: Role | None = None


# Passphrases shown as examples by earlier versions (and their translations): people copied
# them. Refused wherever they appear in a password, whatever the accents, case or spacing.
EXAMPLES = ("mon vélo rouge grimpe la colline", "my red bike climbs the hill")

# Marked for extraction; `%(min_length)s` and `%(max_length)s` are filled where shown.
REFUSALS = {
    "mismatch": N_("Les deux mots de passe ne sont pas identiques. Tapez deux fois le même."),
    "too_short": N_(
        "Votre mot de passe est trop court : il faut au moins %(min_length)s caractères. "
        "Astuce : quatre ou cinq mots qui n'ont de sens que pour vous, séparés par des "
        "espaces, sont faciles à retenir et difficiles à deviner."
    ),
    "too_long": N_("Votre mot de passe est trop long : %(max_length)s caractères au plus."),
    "same_as_current": N_("Le nouveau mot de passe doit être différent de l'ancien."),
    "contains_identity": N_(
        "Votre mot de passe ne doit pas contenir votre identifiant, votre prénom ni votre "
        "nom : ce serait le premier essai d'un pirate. Essayez plutôt quatre ou cinq mots "
        "qui n'ont de sens que pour vous."
    ),
    "contains_birth_date": N_(
        "Votre mot de passe ne doit pas contenir votre date de naissance : beaucoup de gens "
        "la connaissent. Essayez plutôt quatre ou cinq mots qui n'ont de sens que pour vous."
    ),
    "example": N_(
        "Cette phrase a été donnée en exemple : tout le monde peut la lire. Inventez la "
        "vôtre, avec des mots qui n'ont de sens que pour vous."
    ),
    "common": N_(
        "Ce mot de passe fait partie des plus utilisés : il serait deviné en quelques "
        "secondes. Choisissez quelque chose de plus personnel, par exemple quatre ou cinq "
        "mots qui n'ont de sens que pour vous."
    ),
    "weak": N_(
        "Ce mot de passe est trop facile à deviner. Ajoutez des mots, ou utilisez une phrase "
        "qui n'a de sens que pour vous."
    ),
}


class PasswordPolicy:
    def __init__(self, *, min_length: int = 8, min_score: int = 3) -> None:
        self.min_length = min_length
        self.min_score = min_score

    def check(
        self,
        password: str,
        owner: PasswordOwner,
        *,
        confirmation: str | None = None,
        current: str | None = None,
    ) -> Refusal | None:
        """The first rule the password breaks, or None. Blocking (zxcvbn): use a thread."""
        if confirmation is not None and not hmac.compare_digest(
            password.encode(), confirmation.encode()
        ):
            return self.refusal("mismatch")
        if refusal := self.check_length(password):
            return refusal
        if current is not None and hmac.compare_digest(password.encode(), current.encode()):
            return self.refusal("same_as_current")
        folded = _squash(password)
        words = {_squash(w) for w in _WORDS.split(ascii_fold(password))}
        # A name of 4 letters or more anywhere; a shorter one only as a word of its own,
        # so that « Ali » does not forbid « alimentation ».
        if any(
            part in folded if len(part) >= 4 else part in words
            for part in _identity_parts(owner)
            if len(part) >= 2
        ):
            return self.refusal("contains_identity")
        if owner.birth_date and any(form in folded for form in _date_forms(owner.birth_date)):
            return self.refusal("contains_birth_date")
        if any(_squash(example) in folded for example in EXAMPLES):
            return self.refusal("example")
        if _plain(password) in common_passwords():
            return self.refusal("common")
        inputs = [owner.login, owner.first_name, owner.last_name]
        if owner.birth_date:
            inputs += sorted(_date_forms(owner.birth_date))
        score = zxcvbn.zxcvbn(password, user_inputs=inputs, max_length=MAX_LENGTH)["score"]
        if score < self.min_score:
            return self.refusal("weak")
        return None

    def check_length(self, password: str) -> Refusal | None:
        length = len(unicodedata.normalize("NFC", password))
        if length < self.min_length:
            return self.refusal("too_short")
        if length > MAX_LENGTH:
            return self.refusal("too_long")
        return None

    def refusal(self, code: str) -> Refusal:
        params = {"min_length": self.min_length, "max_length": MAX_LENGTH}
        return Refusal(code, Message(REFUSALS[code], params))


def _plain(text: str) -> str:
    return " ".join(ascii_fold(text).split())


def _squash(text: str) -> str:
    """Lower case, no accents, letters and digits only: `Léa.Martin!` → `leamartin`."""
    return "".join(c for c in ascii_fold(text) if c.isalnum())


def _identity_parts(owner: PasswordOwner) -> set[str]:
    parts = {_squash(owner.login)}
    for name in (owner.first_name, owner.last_name):
        parts.add(_squash(name))
        # Each word of a compound name on its own: `Jean-Baptiste` → jean, baptiste.
        parts.update(_squash(p) for p in name_part(name).split("-"))
    for piece in owner.login.split("."):
        parts.add(_squash(piece))
    return {p for p in parts if p}


def _date_forms(birth: date) -> set[str]:
    """The birth date as people write it, punctuation removed (compared to a squashed
    password): 14071789, 17890714, 140789, 1407 + 1789 …"""
    d, m, y = f"{birth.day:02d}", f"{birth.month:02d}", f"{birth.year:04d}"
    yy = y[2:]
    return {
        d + m + y,
        y + m + d,
        d + m + yy,
        m + d + y,
        y + d + m,
        yy + m + d,
        f"{birth.day}{birth.month}{y}",
    }


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("idp.data").joinpath("common_passwords.txt").read_text("utf-8")
    ours = {_plain(line) for line in text.splitlines() if line and not line.startswith("#")}
    return frozenset(ours | set(FREQUENCY_LISTS["passwords"]))
