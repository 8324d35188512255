"""Login rules: `prenom.nom`, lower case, ASCII, at most 20 characters, unique per school."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from idp.accounts.logins import (
    MAX_LENGTH,
    ascii_fold,
    base_login,
    name_part,
    normalise_typed,
    truncate,
    unique_login,
    with_suffix,
)
from idp.errors import InvalidInput, InvalidLogin

LOGIN_SHAPE = re.compile(r"[a-z0-9][a-z0-9.-]{0,19}")
ADMIN_SHAPE = re.compile(r"[0-9]{7}[a-z]")

# Names as a school secretariat types them: any Unicode, with the usual separators.
NAMES = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(" -'’.éèêëàâäîïôöùûüçœæÉÈÊÀÇŒÆß"),
    ),
    max_size=40,
)
USABLE_NAMES = NAMES.filter(lambda name: bool(name_part(name)))
# Only letters (with French accents): no separator, nothing that name_part drops.
LETTERS = st.text(
    alphabet=st.sampled_from(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèêëàâäîïôöùûüçÉÈÊËÀÂÎÏÔÖÙÛÜÇœŒæÆÿŸ"
    ),
    min_size=1,
    max_size=12,
)


def taken_in(logins_taken: set[str]) -> Callable[[str], bool]:
    return logins_taken.__contains__


def assert_login_shape(login: str) -> None:
    assert LOGIN_SHAPE.fullmatch(login), login
    assert len(login) <= MAX_LENGTH
    assert not login.endswith((".", "-")), login
    assert "--" not in login, login
    assert login.count(".") <= 1, login
    assert ".-" not in login and "-." not in login, login


# -- concrete names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("Jean", "Dupont", "jean.dupont"),
        ("JEAN", "DUPONT", "jean.dupont"),
        ("  Jean ", " Dupont\t", "jean.dupont"),
        ("Éloïse", "Œuvrard", "eloise.oeuvrard"),
        ("François", "Lefèvre", "francois.lefevre"),
        ("Ægir", "Straße", "aegir.strasse"),
        ("Anaïs", "Nguyễn", "anais.nguyen"),
        ("Noël", "Åström", "noel.astrom"),
        # apostrophes (straight and typographic) and spaces become hyphens
        ("N'Golo", "Kanté", "n-golo.kante"),
        ("Zoé", "L’Hôte", "zoe.l-hote"),
        ("Marie-Ange", "D'Arc", "marie-ange.d-arc"),
        ("Jean Paul", "Martin", "jean-paul.martin"),
        # repeated separators collapse to one hyphen
        ("Jean  -  Paul", "Martin", "jean-paul.martin"),
        ("Jean--Paul", "Le  Goff", "jean-paul.le-goff"),
        # other characters are dropped, and a hyphen they leave behind collapses too
        ("Jean.Pierre", "Martin", "jeanpierre.martin"),
        ("Ève", "Dupont (ép. Martin)", "eve.dupont-ep-martin"),
        ("Jean", "Müller-李", "jean.muller"),
        ("Jean", "Dupont 2", "jean.dupont-2"),
        ("Jean & Paul", "Martin", "jean-paul.martin"),
    ],
)
def test_base_login_examples(first: str, last: str, expected: str) -> None:
    assert base_login(first, last) == expected


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        # 28 characters: the cut lands after a hyphen, which is removed
        ("Jean-Baptiste", "De La Fontaine", "jean-baptiste.de-la"),
        # 29 characters: cut in the middle of the last name
        ("Marie Christine", "Dupont-Durand", "marie-christine.dupo"),
        # 19-character first name: the cut leaves the dot, which is removed
        ("Marie-Christine-Ann", "Dupont", "marie-christine-ann"),
        # a first name longer than 20 characters fills the login on its own
        ("Marie-Christine-Bernadette", "de Saint-Exupéry", "marie-christine-bern"),
        ("Jean-Baptiste-Emmanuel", "Zola", "jean-baptiste-emmanu"),
        # exactly 20 characters: kept whole
        ("Jean-Baptiste", "Le Roy-Martin", "jean-baptiste.le-roy"),
        ("Ève", "Dupont (ép. Martin)", "eve.dupont-ep-martin"),
    ],
)
def test_long_names_are_cut_to_20_without_a_dangling_dot_or_hyphen(
    first: str, last: str, expected: str
) -> None:
    login = base_login(first, last)
    assert login == expected
    assert len(login) <= MAX_LENGTH
    assert_login_shape(login)


@pytest.mark.parametrize(
    ("first", "last", "which"),
    [
        ("***", "Dupont", "first name"),
        ("Jean", "!!!", "last name"),
        ("", "Dupont", "first name"),
        ("   ", "Dupont", "first name"),
        ("Jean", "- ' -", "last name"),
        ("Jean", "😀", "last name"),
        ("李", "小龙", "first name"),
        ("Дмитрий", "Иванов", "first name"),
        ("Jean", "Иванов", "last name"),
        ("Γιώργος", "Dupont", "first name"),
        ("محمد", "Dupont", "first name"),
        ("Jean", "ישראלי", "last name"),
    ],
)
def test_a_name_with_no_usable_letter_is_refused(first: str, last: str, which: str) -> None:
    with pytest.raises(InvalidLogin) as caught:
        base_login(first, last)
    assert which in caught.value.detail
    # InvalidLogin is an InvalidInput: a 400 page and CLI exit 2, not a crash
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.status_code == 400
    assert "identifiant" in caught.value.message


def test_unique_login_refuses_the_same_names_as_base_login() -> None:
    with pytest.raises(InvalidLogin):
        unique_login("Дмитрий", "Иванов", lambda _candidate: False)


# -- the pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Éloïse Œuvrard", "eloise oeuvrard"),
        ("ÇA VA", "ca va"),
        ("Ærøskøbing", "aeroskobing"),
        ("Łódź", "lodz"),
        ("\uff2a\uff45\uff41\uff4e", "jean"),  # fullwidth letters
        ("İlker", "ilker"),
    ],
)
def test_ascii_fold(text: str, expected: str) -> None:
    assert ascii_fold(text) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jean Pierre", "jean-pierre"),
        ("N'Diaye", "n-diaye"),
        ("-Jean-", "jean"),
        ("  'Jean'  ", "jean"),
        ("Jean_Pierre", "jean-pierre"),
        ("Jean – Pierre", "jean-pierre"),  # en dash
        ("Jean\u00a0Pierre", "jean-pierre"),  # no-break space
        ("D.", "d"),
        ("***", ""),
    ],
)
def test_name_part(name: str, expected: str) -> None:
    assert name_part(name) == expected


@pytest.mark.parametrize(
    ("login", "length", "expected"),
    [
        ("jean.dupont", 20, "jean.dupont"),
        ("abcdefghijklmnopqrst-uvw", 20, "abcdefghijklmnopqrst"),
        ("abcdefghijklmnopqrs-uvw", 20, "abcdefghijklmnopqrs"),
        ("abcdefghijklmnopqrs.uvw", 20, "abcdefghijklmnopqrs"),
        ("jean-baptiste.de-la-fontaine", 20, "jean-baptiste.de-la"),
        ("jean.dupont", 5, "jean"),
        ("a--b", 20, "a-b"),
    ],
)
def test_truncate(login: str, length: int, expected: str) -> None:
    assert truncate(login, length) == expected


@pytest.mark.parametrize(
    ("base", "number", "expected"),
    [
        ("jean.dupont", 2, "jean.dupont2"),
        ("jean.dupont", 10, "jean.dupont10"),
        # a 20-character base: the suffix replaces the last characters
        ("jean-baptiste.le-roy", 2, "jean-baptiste.le-ro2"),
        ("jean-baptiste.le-roy", 10, "jean-baptiste.le-r10"),
        # ... without leaving a hyphen or a dot before the number
        ("jean-baptiste.le-roy", 100, "jean-baptiste.le100"),
        ("marie-christine-an.l", 2, "marie-christine-an2"),
        # 19 characters: the suffix fits without cutting
        ("jean-baptiste.de-la", 2, "jean-baptiste.de-la2"),
        ("jean-baptiste.de-la", 10, "jean-baptiste.de-l10"),
    ],
)
def test_with_suffix(base: str, number: int, expected: str) -> None:
    assert with_suffix(base, number) == expected


# -- collisions ------------------------------------------------------------------------------


def test_no_collision_gives_the_base_login() -> None:
    asked: list[str] = []

    def taken(candidate: str) -> bool:
        asked.append(candidate)
        return False

    assert unique_login("Jean", "Dupont", taken) == "jean.dupont"
    assert asked == ["jean.dupont"]


def test_a_second_jean_dupont_gets_jean_dupont2() -> None:
    assert unique_login("Jean", "Dupont", taken_in({"jean.dupont"})) == "jean.dupont2"


def test_collisions_count_up_to_jean_dupont10_and_beyond() -> None:
    taken: set[str] = set()
    created = []
    for _ in range(12):
        login = unique_login("Jean", "Dupont", taken_in(taken))
        taken.add(login)
        created.append(login)
    assert created == ["jean.dupont", *(f"jean.dupont{n}" for n in range(2, 13))]


def test_a_collision_with_a_differently_written_name_is_detected() -> None:
    # "Jéan DUPONT" and "Jean Dupont" share a login: the second one gets a suffix.
    taken = {base_login("Jean", "Dupont")}
    assert unique_login("Jéan", "DUPONT", taken_in(taken)) == "jean.dupont2"


def test_the_first_free_number_is_used() -> None:
    taken = {"jean.dupont", "jean.dupont3", "jean.dupont4"}
    assert unique_login("Jean", "Dupont", taken_in(taken)) == "jean.dupont2"
    taken |= {"jean.dupont2"}
    assert unique_login("Jean", "Dupont", taken_in(taken)) == "jean.dupont5"


def test_collisions_on_a_20_character_base_stay_within_20() -> None:
    taken: set[str] = set()
    created = []
    for _ in range(11):
        login = unique_login("Jean-Baptiste", "Le Roy-Martin", taken_in(taken))
        taken.add(login)
        created.append(login)
    assert created == [
        "jean-baptiste.le-roy",
        *(f"jean-baptiste.le-ro{n}" for n in range(2, 10)),
        "jean-baptiste.le-r10",
        "jean-baptiste.le-r11",
    ]
    assert all(len(login) <= MAX_LENGTH for login in created)
    assert len(set(created)) == len(created)


def test_collisions_on_a_long_first_name_only_login() -> None:
    taken = {"jean-baptiste-emmanu"}
    login = unique_login("Jean-Baptiste-Emmanuel", "Zola", taken_in(taken))
    assert login == "jean-baptiste-emman2"


# -- typed logins ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Jean.Dupont ", "jean.dupont"),
        ("  JEAN.DUPONT\t", "jean.dupont"),
        ("\u00a0jean.dupont\u00a0", "jean.dupont"),
        ("Éloïse.Œuvrard", "eloise.oeuvrard"),
        ("n-golo.kanté", "n-golo.kante"),
        ("marie christine.dupo", "marie-christine.dupo"),
        ("marie  christine.dupo", "marie-christine.dupo"),
        ("0750655E", "0750655e"),
        (
            "\uff4a\uff45\uff41\uff4e.\uff44\uff55\uff50\uff4f\uff4e\uff54",
            "jean.dupont",
        ),  # fullwidth
    ],
)
def test_normalise_typed(typed: str, expected: str) -> None:
    assert normalise_typed(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("jean.dupont!", "jean.dupont!"),
        ("Jean,Dupont", "jean,dupont"),
        ("JEAN_DUPONT", "jean_dupont"),
    ],
)
def test_normalise_typed_drops_nothing_else_so_a_typo_does_not_match(
    typed: str, expected: str
) -> None:
    assert normalise_typed(typed) == expected


# -- properties ------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(first=NAMES, last=NAMES)
def test_every_login_has_the_login_shape(first: str, last: str) -> None:
    first_part, last_part = name_part(first), name_part(last)
    if not first_part or not last_part:
        with pytest.raises(InvalidLogin):
            base_login(first, last)
        return
    login = base_login(first, last)
    assert_login_shape(login)
    whole = f"{first_part}.{last_part}"
    if len(whole) <= MAX_LENGTH:
        assert login == whole
    else:
        # a cut keeps the beginning, and removes at most the one separator it ends on
        assert whole.startswith(login)
        assert len(login) >= MAX_LENGTH - 1
    # a person's login can never be taken for an establishment admin's (the UAI code)
    assert not ADMIN_SHAPE.fullmatch(login)


@settings(max_examples=200, deadline=None)
@given(first=LETTERS, last=LETTERS)
def test_a_person_typing_their_name_as_login_finds_it(first: str, last: str) -> None:
    assume(len(name_part(first)) + 1 + len(name_part(last)) <= MAX_LENGTH)
    assert normalise_typed(f" {first}.{last} ") == base_login(first, last)


@settings(max_examples=300, deadline=None)
@given(first=USABLE_NAMES, last=USABLE_NAMES)
def test_a_generated_login_typed_in_any_case_with_spaces_finds_itself(
    first: str, last: str
) -> None:
    login = base_login(first, last)
    assert normalise_typed(login) == login
    assert normalise_typed(f"  {login.upper()} \t") == login


@st.composite
def names_and_collisions(draw: st.DrawFn) -> tuple[str, str, bool, set[int]]:
    first = draw(USABLE_NAMES)
    last = draw(USABLE_NAMES)
    base_taken = draw(st.booleans())
    numbers = draw(st.sets(st.integers(min_value=2, max_value=120), max_size=60))
    return first, last, base_taken, numbers


@settings(max_examples=300, deadline=None)
@given(names_and_collisions())
def test_unique_login_returns_the_first_untaken_login(
    case: tuple[str, str, bool, set[int]],
) -> None:
    first, last, base_taken, numbers = case
    base = base_login(first, last)
    taken = {with_suffix(base, n) for n in numbers}
    if base_taken:
        taken.add(base)
    login = unique_login(first, last, taken_in(taken))

    assert login not in taken
    assert_login_shape(login)
    if base not in taken:
        assert login == base
    else:
        first_free = next(n for n in range(2, 200) if with_suffix(base, n) not in taken)
        assert login == with_suffix(base, first_free)
        assert login.endswith(str(first_free))


@settings(max_examples=300, deadline=None)
@given(first=USABLE_NAMES, last=USABLE_NAMES, number=st.integers(min_value=2, max_value=10**6))
def test_with_suffix_always_fits_and_keeps_the_number(first: str, last: str, number: int) -> None:
    login = with_suffix(base_login(first, last), number)
    assert_login_shape(login)
    assert login.endswith(str(number))
    assert not login[: -len(str(number))].endswith((".", "-"))
