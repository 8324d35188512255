"""Account roles and the national SDET profile each one maps to."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    STUDENT = "student"
    TEACHER = "teacher"
    STAFF = "staff"
    ADMIN = "admin"

    @property
    def profile(self) -> str:
        """The SDET profile code French school resources expect in the `profile` claim."""
        return _PROFILES[self]

    @property
    def label(self) -> str:
        return _LABELS[self]


_PROFILES = {
    Role.STUDENT: "National_ELV",
    Role.TEACHER: "National_ENS",
    Role.STAFF: "National_EVS",
    Role.ADMIN: "National_DIR",
}

# Marked for extraction; translated where displayed.
_LABELS = {
    Role.STUDENT: "élève",
    Role.TEACHER: "enseignant",
    Role.STAFF: "personnel",
    Role.ADMIN: "administrateur",
}

# Roles an operator or an admin may give to an account; `admin` belongs to the UAI login only.
PERSON_ROLES = (Role.STUDENT, Role.TEACHER, Role.STAFF)
