"""What the sign-in pages say to people: French message ids, translated where shown.
The first two are the help page's, word for word."""

from __future__ import annotations

from idp.i18n import N_, Message

UNKNOWN_LOGIN = Message(N_("Authentification incorrecte : login inconnu"))
BAD_PASSWORD = Message(N_("Authentification incorrecte : mot de passe non valide."))
INACTIVE = Message(N_("Ce compte est désactivé. Contactez votre établissement."))
INITIAL_EXPIRED = Message(
    N_(
        "Ce mot de passe initial a expiré. Demandez à un enseignant ou au secrétariat de "
        "réinitialiser votre mot de passe."
    )
)
EXPIRED = Message(N_("La page a expiré, veuillez réessayer."))
CHANGED = Message(
    N_(
        "Votre nouveau mot de passe est enregistré : c'est désormais lui qu'il faut utiliser. "
        "Saisissez-le pour vous connecter."
    )
)
# After a change made while signed in (the session stays open).
CHANGED_HERE = Message(N_("Votre mot de passe a été modifié. Vos autres sessions ont été fermées."))
LOGGED_OUT = Message(N_("Vous êtes déconnecté."))
# Empty fields: said before anything is checked, and not counted as a failed attempt.
MISSING_LOGIN = Message(N_("Saisissez votre identifiant"))
MISSING_PASSWORD = Message(N_("Saisissez votre mot de passe"))
WRONG_CURRENT = Message(N_("Votre mot de passe actuel n'est pas le bon."))


def too_many(seconds: int) -> Message:
    if seconds == 1:
        return Message(N_("Trop de tentatives. Réessayez dans 1 seconde."))
    return Message(
        N_("Trop de tentatives. Réessayez dans %(seconds)s secondes."), {"seconds": seconds}
    )
