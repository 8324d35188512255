"""What every signed-in page shows at its top: the pages the person's role opens (their
account, their students, the console), so that nobody has to type an address."""

from __future__ import annotations

from dataclasses import dataclass

from idp.accounts.roles import Role
from idp.models import User
from idp.services.accounts import MAY_RESET_STUDENTS


@dataclass(frozen=True)
class Viewer:
    login: str
    first_name: str
    role: Role

    @classmethod
    def of(cls, user: User) -> Viewer:
        return cls(user.login, user.first_name, user.role)

    @property
    def resets_students(self) -> bool:
        return self.role in MAY_RESET_STUDENTS

    @property
    def administers(self) -> bool:
        return self.role is Role.ADMIN
