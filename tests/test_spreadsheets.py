"""CSV files we write carry no live spreadsheet formula (finding 6 of the outside review)."""

from __future__ import annotations

import csv

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.spreadsheets import FORMULA_LEADS, neutralise, restore, write


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("https://evil.example","x")', '\'=HYPERLINK("https://evil.example","x")'),
        ("+33 1 23", "'+33 1 23"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),
        ("Jean-Pierre", "Jean-Pierre"),
        ("'t Hooft", "'t Hooft"),
        ("", ""),
        (None, ""),
    ],
)
def test_a_cell_that_a_spreadsheet_would_run_is_quoted(value, written):
    assert neutralise(value) == written


@given(st.text())
def test_nothing_written_begins_a_formula_and_the_importer_reads_back_the_same(text):
    assert not neutralise(text).startswith(FORMULA_LEADS)
    assert restore(neutralise(text)) == text


def test_write_neutralises_every_cell_and_stays_a_valid_csv():
    text = write(["=titre", "Nom"], [["@a", 'dit "=b"'], ["-1", ";x"]])
    assert list(csv.reader(text.splitlines(), delimiter=";")) == [
        ["'=titre", "Nom"],
        ["'@a", 'dit "=b"'],
        ["'-1", ";x"],
    ]
    assert text.endswith("\r\n")
