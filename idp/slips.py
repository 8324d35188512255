"""Sign-in slips a teacher prints and hands out, one per pupil: the establishment, the
sign-in address, the login, what to type (the help page's birth-date rule, never the
pupil's date; or a new random initial password, on the slip printed when it is made, and
never again), and a QR code of the sign-in address with the login filled in. As a PDF
(fpdf2, A4, eight slips a page, cut along the dotted lines) and as data for the HTML page
(templates/slips.html, with its print stylesheet)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import segno
from fpdf import FPDF

from idp.accounts.initial_passwords import InitialPasswords
from idp.i18n import N_
from idp.models import User

# The help page's words (seed), for the two forms of the rule.
RULE = N_(
    "Pour votre première connexion, votre mot de passe correspond à votre date de naissance "
    "sous la forme jjmmaaaa."
)
EXAMPLE = N_("Par exemple, si vous êtes né le 14/07/1789, votre mot de passe sera 14071789")
ALREADY = N_("Si vous avez déjà personnalisé votre mot de passe, utilisez-le.")
THEN = N_("À la première connexion, vous choisirez un nouveau mot de passe.")
INITIAL = N_("Mot de passe initial")
# An establishment that gives random initial passwords: a slip printed again carries none.
RANDOM_RULE = N_(
    "Pour votre première connexion, utilisez le mot de passe initial inscrit sur la fiche "
    "remise à la création de votre compte."
)
RANDOM_LOST = N_(
    "Fiche perdue ou mot de passe expiré ? Un enseignant peut le réinitialiser et vous "
    "imprimer une nouvelle fiche."
)


VALID_UNTIL = N_("Valable jusqu'au %(date)s")


def words() -> dict[str, str]:
    """A slip's sentences (to translate): `rule` and `example` (the birth date) or
    `random_rule` and `random_lost` for a slip without a password, by the pupil's case;
    `initial`, `valid_until` and `then` for one with."""
    return {
        "rule": RULE,
        "example": EXAMPLE,
        "random_rule": RANDOM_RULE,
        "random_lost": RANDOM_LOST,
        "then": THEN,
        "already": ALREADY,
        "initial": INITIAL,
        "valid_until": VALID_UNTIL,
    }


def uses_birth_date(state: str, choice: InitialPasswords) -> bool:
    """Whether a slip printed again for an account in password `state` gives the birth-date
    rule: accounts still on it do; those with a random initial password, or whose
    establishment hands out random ones, are told to use their slip or ask for a reset."""
    return state == "initial" or (state != "initial_slip" and choice is InitialPasswords.BIRTH_DATE)


@dataclass(frozen=True)
class Slip:
    establishment: str
    name: str
    class_name: str
    login: str
    sign_in_url: str
    # The URL of the sign-in page with the login filled in: what the QR code holds.
    qr_url: str
    # A new « mot de passe initial », shown on this slip only, and its last day
    # (dd/mm/yyyy, Paris time); None: the slip says what to type instead.
    password: str | None = field(default=None, repr=False)
    valid_until: str | None = None
    # Without a password: the help page's birth-date rule, or (random initial passwords)
    # « use the slip you were given, or ask for a reset ».
    birth_date_rule: bool = True

    @classmethod
    def of(
        cls,
        establishment: str,
        sign_in_url: str,
        login: str,
        name: str,
        class_name: str,
        password: str | None = None,
        *,
        valid_until: datetime | None = None,
        birth_date_rule: bool = True,
    ) -> Slip:
        """A pupil's slip; its QR code opens `sign_in_url` with the login filled in."""
        qr_url = f"{sign_in_url}?{urlencode({'login_hint': login})}"
        last_day = None
        if valid_until is not None:
            last_day = valid_until.astimezone(PARIS).strftime("%d/%m/%Y")
        return cls(
            establishment, name, class_name, login, sign_in_url, qr_url, password, last_day,
            birth_date_rule,
        )  # fmt: skip

    def qr(self) -> segno.QRCode:
        return segno.make(self.qr_url, error="m", micro=False)

    def qr_svg(self) -> str:
        """The QR code as inline SVG (no image request, nothing for the CSP to allow)."""
        return str(self.qr().svg_inline(scale=3, border=2, title=self.login))


# Core PDF fonts cover Latin-1; SIECLE writes ISO-8859-15, which adds these.
_BEYOND_LATIN1 = str.maketrans(
    {"œ": "oe", "Œ": "OE", "Ÿ": "Y", "€": "EUR", "’": "'", "‘": "'", "“": '"', "”": '"',
     "–": "-", "—": "-", "\u202f": " ", "\u00a0": " ", "…": "..."}
)  # fmt: skip


def _latin1(text: str) -> str:
    text = text.translate(_BEYOND_LATIN1)
    if all(ord(c) < 256 for c in text):
        return text
    # Any other letter: without its accent, else a question mark (names are Latin script).
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    )
    return stripped.encode("latin-1", "replace").decode("latin-1")


PARIS = ZoneInfo("Europe/Paris")

# A4 in millimetres: two columns of four slips.
_COLUMNS, _ROWS = 2, 4
_WIDTH, _HEIGHT = 210 / _COLUMNS, 297 / _ROWS


def pdf(slips: list[Slip], texts: dict[str, str], title: str) -> bytes:
    """The slips as an A4 PDF. `texts`: the rule, example, already and then sentences and
    the labels `address`, `login` and `initial`, in the reader's language."""
    document = FPDF(format="A4", unit="mm")
    document.set_auto_page_break(False)
    document.set_title(_latin1(title))
    document.set_creator("CPRO Connect")
    for index, slip in enumerate(slips):
        position = index % (_COLUMNS * _ROWS)
        if position == 0:
            document.add_page()
            _cut_lines(document)
        x = (position % _COLUMNS) * _WIDTH + 7
        y = (position // _COLUMNS) * _HEIGHT + 7
        _slip(document, slip, texts, x, y)
    return bytes(document.output())


def _cut_lines(document: FPDF) -> None:
    document.set_draw_color(150)
    document.set_dash_pattern(dash=1, gap=1.5)
    document.line(_WIDTH, 0, _WIDTH, 297)
    for row in range(1, _ROWS):
        document.line(0, row * _HEIGHT, 210, row * _HEIGHT)
    document.set_dash_pattern()
    document.set_draw_color(0)


def _slip(document: FPDF, slip: Slip, texts: dict[str, str], x: float, y: float) -> None:
    width = _WIDTH - 14
    qr_size = 26.0
    text_width = width - qr_size - 3
    document.set_xy(x, y)
    document.set_font("Helvetica", "B", 10)
    document.multi_cell(text_width, 4.5, _latin1(slip.establishment))
    document.set_x(x)
    document.set_font("Helvetica", "", 9)
    klass = f" - {slip.class_name}" if slip.class_name else ""
    document.multi_cell(text_width, 4.5, _latin1(slip.name + klass))
    document.set_x(x)
    document.set_font("Helvetica", "", 8)
    document.multi_cell(text_width, 4, _latin1(f"{texts['address']} : {slip.sign_in_url}"))
    document.set_x(x)
    document.set_font("Helvetica", "B", 12)
    document.multi_cell(text_width, 6, _latin1(f"{texts['login']} : {slip.login}"))
    if slip.password is not None:
        document.set_x(x)
        document.set_font("Helvetica", "", 9)
        document.multi_cell(text_width, 4.5, _latin1(f"{texts['initial']} :"))
        document.set_x(x)
        document.set_font("Courier", "B", 13)
        document.multi_cell(text_width, 6, slip.password)
    document.set_x(x)
    document.set_font("Helvetica", "", 8)
    lines = [texts[key] for key in _sentences(slip)]
    if slip.password is not None and slip.valid_until:
        lines.insert(0, texts["valid_until"] % {"date": slip.valid_until})
    for line in lines:
        document.set_x(x)
        document.multi_cell(width, 3.8, _latin1(line))
    # The QR code, module by module: exact at any zoom, no image library.
    matrix = slip.qr().matrix
    module = qr_size / (len(matrix) + 2)
    left, top = x + width - qr_size, y
    document.set_fill_color(0)
    for r, row in enumerate(matrix):
        # One rectangle per run of dark modules: a third of the drawing operations.
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            x0, y0 = left + (start + 1) * module, top + (r + 1) * module
            document.rect(x0, y0, (c - start) * module, module, "F")


def _sentences(slip: Slip) -> tuple[str, ...]:
    if slip.password is not None:
        return ("then",)
    if slip.birth_date_rule:
        return ("rule", "example", "then", "already")
    return ("random_rule", "random_lost", "already")


def french_texts() -> dict[str, str]:
    """The slip's words in French (the command line's slips, for a French school)."""
    return {**words(), "address": "Adresse", "login": "Identifiant"}


@dataclass(frozen=True)
class Handout:
    """A new initial password, for a slip: shown once, never stored in clear."""

    login: str
    first_name: str
    last_name: str
    class_name: str
    password: str = field(repr=False)
    valid_until: datetime | None = None

    @classmethod
    def of(cls, user: User, password: str) -> Handout:
        """The slip of `user`'s new initial password, valid until its stored end."""
        return cls(
            user.login, user.first_name, user.last_name, ", ".join(user.class_names), password,
            user.password_expires_at,
        )  # fmt: skip


def for_handouts(establishment: str, sign_in_url: str, handouts: list[Handout]) -> list[Slip]:
    """The slips of new initial passwords."""
    return [
        Slip.of(
            establishment,
            sign_in_url,
            h.login,
            f"{h.first_name} {h.last_name}",
            h.class_name,
            h.password,
            valid_until=h.valid_until,
            birth_date_rule=False,
        )
        for h in handouts
    ]
