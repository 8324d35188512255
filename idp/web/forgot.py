"""`/{code}/password/forgot`: « Mot de passe oublié ? »."""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import Response

from idp.accounts.initial_passwords import InitialPasswords
from idp.db import in_thread, release
from idp.directory import EstablishmentView
from idp.i18n import N_, Message
from idp.security.csrf import FIELD, CsrfCheck
from idp.services.recovery import Outcome, forgot, new_temporary
from idp.web.forms import check_csrf, client_of, csrf_token, finish
from idp.web.messages import EXPIRED, UNKNOWN_LOGIN
from idp.web.pages import resolve_open
from idp.web.rendering import locale_of, render
from idp.web.transactions import db

MESSAGES = {
    Outcome.STUDENT: Message(
        N_(
            "Les élèves ne reçoivent pas de mot de passe par courriel. Contactez vos enseignants "
            "ou votre établissement : ils peuvent réinitialiser votre mot de passe à sa valeur "
            "initiale, votre date de naissance (jjmmaaaa)."
        )
    ),
    Outcome.NO_EMAIL: Message(
        N_(
            "Aucune adresse électronique n'est enregistrée pour ce compte. Contactez "
            "l'administrateur de CPRO éducation dans votre établissement."
        )
    ),
    Outcome.INACTIVE: Message(N_("Ce compte est désactivé. Contactez votre établissement.")),
    Outcome.MAIL_FAILED: Message(
        N_("Le courriel n'a pas pu être envoyé. Veuillez réessayer plus tard.")
    ),
}
RANDOM = InitialPasswords.RANDOM
# An establishment that hands out random initial passwords: a reset gives a new slip.
STUDENT_RANDOM = Message(
    N_(
        "Les élèves ne reçoivent pas de mot de passe par courriel. Contactez vos enseignants "
        "ou votre établissement : ils peuvent réinitialiser votre mot de passe et vous "
        "remettre une fiche avec un nouveau mot de passe initial."
    )
)


def _wait(outcome: Outcome, seconds: int) -> Message:
    if outcome is Outcome.TOO_SOON:
        return Message(
            N_(
                "Un courriel vient de vous être envoyé. Vérifiez votre boîte de réception et vos "
                "courriers indésirables, ou réessayez dans %(seconds)s secondes."
            ),
            {"seconds": seconds},
        )
    minutes = max(1, (seconds + 59) // 60)
    if outcome is Outcome.ACCOUNT_LIMIT:
        return Message(
            N_("Trop de demandes pour ce compte. Réessayez dans %(minutes)s minutes."),
            {"minutes": minutes},
        )
    return Message(
        N_("Trop de demandes depuis cette connexion. Réessayez dans %(minutes)s minutes."),
        {"minutes": minutes},
    )


def _page(request: Request, establishment: EstablishmentView, **context: object) -> Response:
    status = int(context.pop("status_code", 200))  # type: ignore[call-overload]
    response = render(
        request,
        "password_forgot.html",
        status_code=status,
        establishment=establishment,
        csrf_field=FIELD,
        csrf_token=csrf_token(request),
        **{"login": "", "error": None, "info": None, "sent_to": None, "hours": 24, **context},
    )
    return finish(request, response)


async def show(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    return _page(request, establishment, login=request.query_params.get("login", "")[:100])


async def submit(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    form = await request.form()
    typed = str(form.get("login", ""))[:200]
    check = await check_csrf(request, str(form.get(FIELD, "")) or None)
    if check is not CsrfCheck.OK:
        return _page(
            request,
            establishment,
            login=typed,
            error=EXPIRED,
            status_code=200 if check is CsrfCheck.EXPIRED else 403,
        )
    rt = request.app.state.runtime
    await release(db(request))
    temporary = await new_temporary(rt.hasher)
    result = await in_thread(
        db(request),
        functools.partial(
            forgot,
            rt,
            db(request),
            establishment.id,
            typed,
            client_of(request).ip,
            temporary,
            locale=locale_of(request),
        ),
    )
    hours = int(rt.settings.temporary_password_lifetime.total_seconds() // 3600)
    if result.outcome is Outcome.SENT:
        return _page(request, establishment, sent_to=result.masked_email, hours=hours)
    if result.outcome is Outcome.UNKNOWN_LOGIN:
        return _page(request, establishment, login=typed, error=UNKNOWN_LOGIN)
    if result.outcome in (Outcome.TOO_SOON, Outcome.ACCOUNT_LIMIT, Outcome.IP_LIMIT):
        return _page(
            request,
            establishment,
            login=typed,
            status_code=429,
            error=_wait(result.outcome, result.retry_after),
        )
    if result.outcome is Outcome.MAIL_FAILED:
        return _page(
            request, establishment, login=typed, status_code=503, error=MESSAGES[result.outcome]
        )
    info = MESSAGES[result.outcome]
    if result.outcome is Outcome.STUDENT and establishment.initial_passwords is RANDOM:
        info = STUDENT_RANDOM
    return _page(request, establishment, login=typed, info=info)
