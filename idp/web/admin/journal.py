"""The journal's words: each audit event type and its details as a school reads them, in
French (or English), never as stored (`login.failure`, `reason=bad_password`). The CSV export
keeps the stored values, for tools."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from idp.i18n import N_, Message
from idp.store.audit import EventType

LABELS: dict[EventType, str] = {
    EventType.LOGIN_SUCCESS: N_("Connexion réussie"),
    EventType.LOGIN_FAILURE: N_("Connexion refusée"),
    EventType.LOGIN_THROTTLED: N_("Connexion retardée (trop d'échecs)"),
    EventType.LOGIN_PASSWORD_CHANGE_REQUIRED: N_("Connexion : mot de passe à personnaliser"),
    EventType.LOGOUT: N_("Déconnexion"),
    EventType.PASSWORD_CHANGED: N_("Mot de passe personnalisé"),
    EventType.PASSWORD_SET: N_("Mot de passe fixé par l'exploitant"),
    EventType.PASSWORD_RESET: N_("Mot de passe réinitialisé"),
    EventType.PASSWORD_FORGOT: N_("Mot de passe oublié : rien envoyé"),
    EventType.PASSWORD_TEMPORARY_SENT: N_("Mot de passe temporaire envoyé"),
    EventType.PASSWORD_TEMPORARY_FAILED: N_("Mot de passe temporaire non envoyé"),
    EventType.USER_CREATED: N_("Compte créé"),
    EventType.USER_UPDATED: N_("Compte modifié"),
    EventType.USER_DEACTIVATED: N_("Compte désactivé"),
    EventType.USER_REACTIVATED: N_("Compte réactivé"),
    EventType.USER_DELETED: N_("Compte supprimé"),
    EventType.USER_PURGED: N_("Compte d'un élève parti effacé"),
    EventType.ESTABLISHMENT_INCIDENT: N_("Mode incident : mots de passe remplacés"),
    EventType.USER_UNBLOCKED: N_("Échecs de connexion remis à zéro"),
    EventType.USERS_IMPORTED: N_("Comptes importés"),
    EventType.SESSION_ENDED: N_("Session fermée par l'administrateur"),
    EventType.ESTABLISHMENT_CREATED: N_("Établissement créé"),
    EventType.ESTABLISHMENT_ENABLED: N_("Établissement rouvert"),
    EventType.ESTABLISHMENT_DISABLED: N_("Établissement suspendu"),
    EventType.ESTABLISHMENT_LOOK_CHANGED: N_("Apparence des pages modifiée"),
    EventType.ESTABLISHMENT_INITIAL_PASSWORDS: N_("Choix des mots de passe initiaux modifié"),
    EventType.CLIENT_CREATED: N_("Application enregistrée"),
    EventType.CLIENT_UPDATED: N_("Application modifiée"),
    EventType.CLIENT_SECRET_ROTATED: N_("Secret d'application renouvelé"),
    EventType.CLIENT_ENABLED: N_("Application réactivée"),
    EventType.CLIENT_DISABLED: N_("Application désactivée"),
    EventType.CLIENT_DELETED: N_("Application supprimée"),
    EventType.AUTHORIZE_CODE_ISSUED: N_("Accès donné à une application"),
    EventType.TOKEN_CODE_REPLAYED: N_("Code d'accès réutilisé : accès révoqués"),
    EventType.TOKEN_REFRESH_REUSED: N_("Jeton réutilisé : accès révoqués"),
}

# The journal's « Type » filter: kinds of events, each the prefix of its stored types.
KINDS: tuple[tuple[str, str], ...] = (
    ("login", N_("Connexions")),
    ("password", N_("Mots de passe")),
    ("user", N_("Comptes")),
    ("session", N_("Sessions fermées par l'administrateur")),
    ("logout", N_("Déconnexions")),
    ("client", N_("Applications")),
    ("authorize", N_("Accès donnés aux applications")),
    ("token", N_("Réutilisations détectées")),
    ("establishment", N_("Établissement")),
)

_REASONS = {
    "bad_password": N_("mot de passe non valide"),
    "unknown_login": N_("identifiant inconnu"),
    "inactive": N_("compte désactivé"),
}
_FORGOT = {
    "unknown_login": N_("identifiant inconnu"),
    "student": N_("compte d'élève : à réinitialiser par un enseignant"),
    "no_email": N_("aucune adresse électronique"),
    "inactive": N_("compte désactivé"),
}
_SCOPES = {"account": N_("le compte"), "ip": N_("l'adresse")}
# A reset's outcome (password.reset), and the establishment's choice of initial passwords.
_TO = {
    "initial": N_("retour à la date de naissance"),
    "random_initial": N_("nouveau mot de passe initial, sur une fiche"),
    "generated": N_("nouveau mot de passe provisoire envoyé par courriel"),
    "birth_date": N_("la date de naissance"),
    "random": N_("des mots de passe initiaux aléatoires, sur des fiches"),
}


def _detail(key: str, value: Any) -> Message | None:
    """One detail as words; None for one that says nothing to a school."""
    said: dict[str, Callable[[Any], Message | None]] = {
        "reason": lambda v: Message(_REASONS[v]) if v in _REASONS else None,
        "outcome": lambda v: Message(_FORGOT[v]) if v in _FORGOT else None,
        "forced": lambda v: Message(
            N_("à la première connexion ou après une réinitialisation")
            if v
            else N_("changement volontaire")
        ),
        "temporary": lambda v: Message(N_("avec un mot de passe temporaire")) if v else None,
        "to": lambda v: Message(_TO.get(v, _TO["generated"])),
        "scope": lambda v: Message(
            N_("trop d'échecs pour %(what)s"), {"what": Message(_SCOPES.get(v, _SCOPES["ip"]))}
        ),
        "retry_after": lambda v: Message(N_("attente de %(seconds)s s"), {"seconds": v}),
        "created": lambda v: Message(N_("%(count)s créé(s)"), {"count": v}),
        "updated": lambda v: Message(N_("%(count)s mis à jour"), {"count": v}),
        "deactivated": lambda v: Message(N_("%(count)s désactivé(s)"), {"count": v}),
        "refused": lambda v: Message(N_("%(count)s ligne(s) refusée(s)"), {"count": v}),
        "revoked": lambda v: Message(N_("%(count)s accès révoqué(s)"), {"count": v}),
        "tokens_revoked": lambda v: Message(N_("%(count)s accès révoqué(s)"), {"count": v}),
        "name": lambda v: Message(N_("nom : %(value)s"), {"value": v}),
        "client_id": lambda v: Message(N_("application : %(value)s"), {"value": v}),
        "role": lambda v: None,
        "auth_method": lambda v: None,
        "uai": lambda v: Message(N_("UAI : %(value)s"), {"value": v}),
        "logo": lambda v: Message(N_("logo changé") if v else N_("logo retiré")),
        "accent": lambda v: Message(N_("couleur : %(value)s"), {"value": v or "—"}),
        "error": lambda v: Message(N_("erreur du serveur de courriel")),
    }
    if key in said:
        return said[key](value)
    return Message("%(key)s : %(value)s", {"key": key, "value": value})


def label(event_type: str) -> Message:
    try:
        return Message(LABELS[EventType(event_type)])
    except (KeyError, ValueError):
        return Message("%(value)s", {"value": event_type})  # a type of a later version


def details(values: Mapping[str, Any]) -> list[Message]:
    return [m for key, value in sorted(values.items()) if (m := _detail(key, value))]
