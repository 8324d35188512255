"""`make screenshots`: the main pages as people see them, in French and English, on a phone
and on a desktop, taken in Chromium from a real `idp serve` on a fresh demo database, into
docs/screenshots/ (the README shows some). CI runs it too, so that it cannot rot.

    python tests/screenshots.py [--out DIR] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

IDP = Path(sys.executable).parent / "idp"
CODE = "demo"
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 768}}
PASSWORD = "sept hiboux lisent sous la lampe"
TEACHER, ADMIN = "paul.durand", "0999999f"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _idp(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(IDP), *args], env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"idp {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _pupil(env: dict[str, str], number: int) -> str:
    """A pupil still on the birth-date password (14/03/2009), one per set of screenshots."""
    return _idp(
        env, "user", "add", CODE, "--first-name", "Inès", "--last-name", f"Exemple{number}",
        "--birth-date", "2009-03-14", "--role", "student", "--group", "2MRC-A",
    ).split()[-1]  # fmt: skip


def _sign_in(page: Page, base: str, login: str, password: str) -> None:
    page.goto(f"{base}/{CODE}/login")
    page.locator("#login").fill(login)
    page.locator("#password").fill(password)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument(
        "--chromium", default=os.environ.get("IDP_TEST_CHROMIUM", "/usr/bin/chromium")
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        env.update(
            {
                "IDP_DATABASE_URL": f"sqlite:///{workdir}/idp.db",
                "IDP_SECRET_KEY": secrets.token_urlsafe(48),
                "IDP_BASE_URL": base,
                "IDP_MAIL_BACKEND": "file",
                "IDP_MAIL_DIR": f"{workdir}/mail",
                "IDP_ARGON2_MEMORY_KIB": "1024",
                "IDP_ARGON2_TIME_COST": "1",
            }
        )
        _idp(env, "db", "upgrade")
        _idp(env, "demo")
        for login in (TEACHER, ADMIN):
            _idp(env, "user", "set-password", CODE, login, "--password-stdin", stdin=PASSWORD)
        server = subprocess.Popen(
            [str(IDP), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=1)  # noqa: S310
                    break
                except OSError:
                    time.sleep(0.1)
            taken = _shoot(env, base, args.out, args.chromium)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"{taken} screenshots in {args.out}")
    return 0


def _shoot(env: dict[str, str], base: str, out: Path, chromium: str) -> int:
    taken = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        number = 0
        for language in ("fr", "en"):
            for width, viewport in WIDTHS.items():
                number += 1
                context = browser.new_context(locale="fr-FR", viewport=viewport)
                page = context.new_page()

                def shot(
                    name: str, page: Page = page, suffix: str = f"{language}-{width}"
                ) -> None:
                    nonlocal taken
                    page.screenshot(path=str(out / f"{name}-{suffix}.png"))
                    taken += 1

                page.goto(f"{base}/{CODE}/login?lang={language}")
                shot("signin")
                page.locator("form button[type=submit]").first.click()
                page.wait_for_load_state()
                shot("signin-empty")
                page.goto(f"{base}/{CODE}/password/forgot")
                shot("forgot")
                pupil = _pupil(env, number)
                _sign_in(page, base, pupil, "14032009")
                shot("first-change")
                page.locator("#new_password").fill(PASSWORD)
                page.locator("#new_password_confirmation").fill(PASSWORD)
                page.locator("form button[type=submit]").first.click()
                page.wait_for_load_state()
                shot("signin-changed")
                page.locator("#password").fill(PASSWORD)
                page.locator("form button[type=submit]").first.click()
                page.wait_for_load_state()
                shot("account")
                context.clear_cookies()
                page.goto(f"{base}/{CODE}/login?lang={language}")
                _sign_in(page, base, TEACHER, PASSWORD)
                page.goto(f"{base}/{CODE}/students")
                shot("students")
                context.clear_cookies()
                page.goto(f"{base}/{CODE}/login?lang={language}")
                _sign_in(page, base, ADMIN, PASSWORD)
                page.goto(f"{base}/{CODE}/admin")
                shot("console")
                page.goto(f"{base}/{CODE}/admin/users")
                shot("console-users")
                page.goto(f"{base}/{CODE}/admin/audit")
                shot("console-journal")
                context.close()
        browser.close()
    return taken


if __name__ == "__main__":
    sys.exit(main())
