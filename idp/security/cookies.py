"""Cookie names and attributes (README, "Signing in"): HttpOnly, SameSite=Lax, Path=/, and under
https Secure with the `__Host-` prefix, which browsers only accept from a secure origin
without a Domain, so no subdomain can plant one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response


class Cookies:
    def __init__(self, *, https: bool) -> None:
        self.https = https

    def name(self, base: str) -> str:
        return f"__Host-{base}" if self.https else base

    def session(self, code: str) -> str:
        return self.name(f"cpro-{code}")

    # The other names hold an underscore, which no establishment code can: no cookie of
    # one establishment can ever be named like another's session.

    def known_device(self, code: str) -> str:
        return self.name(f"cpro_device.{code}")

    def password_change(self, code: str) -> str:
        return self.name(f"cpro_change.{code}")

    @property
    def language(self) -> str:
        return self.name("cpro_lang")

    @property
    def flash(self) -> str:
        return self.name("cpro_flash")

    @property
    def presession(self) -> str:
        return self.name("cpro_pre")

    def read(self, request: Request, name: str) -> str | None:
        return request.cookies.get(name)

    def set(self, response: Response, name: str, value: str, *, max_age: int | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=self.https,
            httponly=True,
            samesite="lax",
        )

    def delete(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", secure=self.https, httponly=True, samesite="lax")
