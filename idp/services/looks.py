"""How an establishment's pages look, set by its admin (issue « pages »): a logo, so that a
pupil recognises their school, and an accent colour. The logo is PNG, JPEG or WebP, at most
200 KB, recognised by its content (never SVG: an SVG can carry scripts); the colour must
leave white text on it readable (WCAG AA, 4.5:1), since the header and the school's name
use it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from idp.errors import InvalidInput
from idp.i18n import N_
from idp.models import EstablishmentLook
from idp.runtime import Runtime
from idp.services import establishments
from idp.store import audit
from idp.store import establishments as establishment_store
from idp.store.audit import EventType

MAX_LOGO_BYTES = 200 * 1024
MIN_CONTRAST = 4.5
_COLOUR = re.compile(r"#?([0-9a-fA-F]{6})")


@dataclass(frozen=True)
class Logo:
    data: bytes
    content_type: str


def logo_type(data: bytes) -> str | None:
    """The image type by its first bytes, of the three accepted; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def contrast_with_white(colour: str) -> float:
    """WCAG 2.1 contrast ratio of white against `#rrggbb`."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)


def normalise_colour(typed: str) -> str:
    match = _COLOUR.fullmatch(typed.strip())
    if match is None:
        raise InvalidInput(
            N_(
                "Couleur invalide : tapez-la comme #1d4f91 (un dièse puis six chiffres ou "
                "lettres de a à f)."
            ),
            detail=f"colour {typed[:20]!r}",
        )
    colour = f"#{match.group(1).lower()}"
    ratio = contrast_with_white(colour)
    if ratio < MIN_CONTRAST:
        raise InvalidInput(
            N_(
                "Cette couleur est trop claire : le texte blanc posé dessus ne serait pas "
                "lisible (contraste de %(ratio)s pour 1, il en faut au moins 4,5). Choisissez "
                "une couleur plus foncée."
            ),
            {"ratio": f"{ratio:.1f}".replace(".", ",")},
            detail=f"colour {colour} contrast {ratio:.2f}",
        )
    return colour


def change(
    rt: Runtime,
    session: Session,
    code: str,
    *,
    logo: bytes | None = None,
    remove_logo: bool = False,
    accent: str | None = None,
    actor: str,
) -> None:
    """Set what was given (a new logo, or its removal; the accent, `""` for the default).
    Every instance shows the change at its next request (idp.caches)."""
    establishment = establishments.get(session, code)
    details: dict[str, object] = {}
    new_type = None
    if logo is not None:
        if len(logo) > MAX_LOGO_BYTES:
            raise InvalidInput(
                N_("Le logo est trop lourd : 200 Ko au plus. Réduisez l'image et réessayez."),
                detail=f"logo of {len(logo)} bytes",
            )
        new_type = logo_type(logo)
        if new_type is None:
            raise InvalidInput(
                N_("Le logo doit être une image PNG, JPEG ou WebP (le SVG n'est pas accepté)."),
                detail="logo of an unaccepted type",
            )
    colour = None if accent is None or accent == "" else normalise_colour(accent)
    now = rt.clock.now()
    look = establishment_store.look_row(session, establishment.id)
    if look is None:
        look = EstablishmentLook(establishment_id=establishment.id, updated_at=now)
        session.add(look)
    if logo is not None:
        look.logo, look.logo_type = logo, new_type
        details["logo"] = True
    elif remove_logo:
        look.logo = look.logo_type = None
        details["logo"] = False
    if accent is not None and colour != look.accent:
        look.accent = colour
        details["accent"] = colour
    if not details:
        return
    look.updated_at = now
    audit.record(
        session, establishment, EventType.ESTABLISHMENT_LOOK_CHANGED, at=now, actor=actor,
        details=details,
    )  # fmt: skip
    rt.caches.changed(session)


def logo_of(session: Session, establishment_id: int) -> Logo | None:
    look = establishment_store.look_row(session, establishment_id)
    if look is None or look.logo is None or look.logo_type is None:
        return None
    return Logo(look.logo, look.logo_type)
