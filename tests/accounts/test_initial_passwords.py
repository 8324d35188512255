"""Initial passwords (the birth date) and generated passwords (admin, temporary)."""

from __future__ import annotations

import re
import string
from collections import Counter
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.accounts import initial_passwords
from idp.accounts.initial_passwords import (
    GENERATED_ALPHABET,
    generate_password,
    initial_password,
    matches_initial,
)
from idp.accounts.roles import Role

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz"
GENERATED_SHAPE = re.compile(rf"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}")
BASTILLE = date(1789, 7, 14)


# -- birth-date passwords ------------------------------------------------------------------


def test_the_help_page_example_for_a_student() -> None:
    assert initial_password(Role.STUDENT, BASTILLE) == "14071789"


@pytest.mark.parametrize("role", [Role.TEACHER, Role.STAFF])
def test_the_help_page_example_for_teachers_and_staff(role: Role) -> None:
    assert initial_password(role, BASTILLE) == "1789-07-14"


@pytest.mark.parametrize(
    ("birth_date", "student", "adult"),
    [
        (date(2008, 2, 1), "01022008", "2008-02-01"),  # day and month padded with a zero
        (date(2008, 2, 29), "29022008", "2008-02-29"),
        (date(2009, 12, 31), "31122009", "2009-12-31"),
        (date(1965, 10, 5), "05101965", "1965-10-05"),
    ],
)
def test_formats_pad_day_and_month(birth_date: date, student: str, adult: str) -> None:
    assert initial_password(Role.STUDENT, birth_date) == student
    assert initial_password(Role.TEACHER, birth_date) == adult
    assert initial_password(Role.STAFF, birth_date) == adult


def test_the_admin_account_has_no_birth_date_password() -> None:
    with pytest.raises(ValueError, match="admin"):
        initial_password(Role.ADMIN, BASTILLE)
    with pytest.raises(ValueError, match="admin"):
        matches_initial(Role.ADMIN, BASTILLE, "14071789")


@settings(max_examples=300)
@given(st.dates())
def test_student_password_is_always_jjmmaaaa(birth_date: date) -> None:
    password = initial_password(Role.STUDENT, birth_date)
    assert re.fullmatch(r"[0-9]{8}", password), password
    day, month, year = int(password[:2]), int(password[2:4]), int(password[4:])
    assert date(year, month, day) == birth_date


@settings(max_examples=300)
@given(st.dates(), st.sampled_from([Role.TEACHER, Role.STAFF]))
def test_teacher_and_staff_password_is_always_aaaa_mm_jj(birth_date: date, role: Role) -> None:
    password = initial_password(role, birth_date)
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", password), password
    assert date.fromisoformat(password) == birth_date


# -- matching --------------------------------------------------------------------------------


def test_matches_initial_accepts_the_birth_date_in_the_role_format() -> None:
    assert matches_initial(Role.STUDENT, BASTILLE, "14071789")
    assert matches_initial(Role.TEACHER, BASTILLE, "1789-07-14")
    assert matches_initial(Role.STAFF, BASTILLE, "1789-07-14")


@pytest.mark.parametrize(
    ("role", "typed"),
    [
        # the other role's format
        (Role.STUDENT, "1789-07-14"),
        (Role.TEACHER, "14071789"),
        (Role.STAFF, "14071789"),
        # other dates, or other ways of writing this one
        (Role.STUDENT, "07141789"),
        (Role.STUDENT, "14071790"),
        (Role.STUDENT, "140789"),
        (Role.STUDENT, "14/07/1789"),
        (Role.STUDENT, "1407178"),
        (Role.STUDENT, "140717890"),
        (Role.TEACHER, "1789-7-14"),
        (Role.TEACHER, "1789/07/14"),
        (Role.STUDENT, ""),
        # look-alike digits from other scripts
        (Role.STUDENT, "١٤٠٧١٧٨٩"),
        (Role.STUDENT, "\uff11\uff14\uff10\uff17\uff11\uff17\uff18\uff19"),
        (Role.STUDENT, "14071789é"),
    ],
)
def test_matches_initial_refuses_anything_else(role: Role, typed: str) -> None:
    assert not matches_initial(role, BASTILLE, typed)


@settings(max_examples=200)
@given(st.dates(), st.dates(), st.sampled_from([Role.STUDENT, Role.TEACHER, Role.STAFF]))
def test_only_the_own_birth_date_matches(birth_date: date, other: date, role: Role) -> None:
    typed = initial_password(role, other)
    assert matches_initial(role, birth_date, typed) is (other == birth_date)


# -- generated passwords ---------------------------------------------------------------------


def test_generated_alphabet_has_no_look_alike_characters() -> None:
    assert GENERATED_ALPHABET == ALPHABET
    for look_alike in "01IOilo":
        assert look_alike not in GENERATED_ALPHABET


def test_generated_passwords_have_the_format_and_a_digit() -> None:
    passwords = [generate_password() for _ in range(2000)]
    for password in passwords:
        assert GENERATED_SHAPE.fullmatch(password), password
        assert any(c in string.digits for c in password), password
    # random: no repeats, and every character of the alphabet turns up
    assert len(set(passwords)) == len(passwords)
    used = Counter("".join(passwords).replace("-", ""))
    assert set(used) == set(ALPHABET)


def test_a_draw_without_a_digit_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter("ABCDEFGHJKLM" + "abcdefghjkm2")

    def choice(alphabet: str) -> str:
        assert alphabet == GENERATED_ALPHABET
        return next(draws)

    monkeypatch.setattr(initial_passwords.secrets, "choice", choice)
    assert generate_password() == "abcd-efgh-jkm2"


def test_generated_passwords_come_from_a_csprng(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def choice(alphabet: str) -> str:
        calls.append(alphabet)
        return "7"

    monkeypatch.setattr(initial_passwords.secrets, "choice", choice)
    assert generate_password() == "7777-7777-7777"
    assert len(calls) == 12


def test_matches_initial_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(initial_passwords.hmac, "compare_digest", compare_digest)
    assert matches_initial(Role.STUDENT, BASTILLE, "14071789")
    assert not matches_initial(Role.STUDENT, BASTILLE, "01011790")
    assert compared == [(b"14071789", b"14071789"), (b"14071789", b"01011790")]
