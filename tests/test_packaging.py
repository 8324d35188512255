"""The wheel on its own: built from the checkout, installed in a new virtual environment outside
it, it migrates a database, creates an establishment and serves the sign-in page and its
stylesheet. Templates (templates/, shipped as idp/templates), static files, catalogues and
migrations must all be inside the wheel, since the checkout is out of sight.

The build runs offline, without build isolation: the build backend of pyproject.toml's
[build-system] comes from this virtual environment (`make test` installs it).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import sysconfig
import tomllib
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import httpx
import pytest
from e2e.conftest import CLI_SECONDS, run_command, start_server, stop_server
from packaging.requirements import Requirement

from conftest import missing_service
from helpers import UAI_A
from oauth_support import free_port

REPO = Path(__file__).resolve().parent.parent
BUILD_SECONDS = 300.0
SCHOOL = "lp-a"
SCHOOL_NAME = "Lycée professionnel A"

# What the copy of the checkout leaves behind: local state, caches, earlier builds.
_ROOT_JUNK = {".git", ".venv", "build", "dist", ".demo", "mail", ".env"}
_JUNK = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
# Files of idp/ that the server never reads (sources of the catalogues, extraction settings).
_NOT_SHIPPED = {".po", ".pot", ".cfg", ".pyc"}


def _require_build_backend() -> None:
    with (REPO / "pyproject.toml").open("rb") as handle:
        requires = tomllib.load(handle)["build-system"]["requires"]
    for line in requires:
        requirement = Requirement(line)
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            installed = None
        if installed is None or not requirement.specifier.contains(installed, prereleases=True):
            missing_service(
                f"the build backend: {line} is needed in {sys.prefix} to build the wheel "
                f"offline (found {installed or 'none'}; `make test` installs it)"
            )


def _ignore(directory: str, names: list[str]) -> set[str]:
    at_root = Path(directory) == REPO
    return {
        name
        for name in names
        if name in _JUNK
        or name.endswith((".egg-info", ".pyc"))
        or (at_root and (name in _ROOT_JUNK or name.startswith("idp.db")))
    }


def _build_wheel(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the checkout (an in-place build would leave build/ in the checkout, and
    setuptools packs whatever an earlier build left there), its catalogues compiled as
    `make` does, then the wheel. Returns the copy and the wheel."""
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=_ignore, symlinks=True)
    pybabel = Path(sys.executable).with_name("pybabel")
    run_command(
        [pybabel, "compile", "--use-fuzzy", "-d", source / "idp/locale", "-D", "messages"],
        cwd=tmp_path,
        timeout=CLI_SECONDS,
    )
    dist = tmp_path / "dist"
    run_command(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--wheel-dir",
            dist,
            source,
        ],
        cwd=tmp_path,
        timeout=BUILD_SECONDS,
    )
    [wheel] = dist.glob("cpro_connect-*.whl")
    return source, wheel


def _expected_in_wheel(source: Path) -> set[str]:
    """Every file of idp/ the server may read, and every template, at its installed place."""
    expected = {
        f"idp/{path.relative_to(source / 'idp').as_posix()}"
        for path in (source / "idp").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in _NOT_SHIPPED
    }
    expected |= {
        f"idp/templates/{path.relative_to(source / 'templates').as_posix()}"
        for path in (source / "templates").rglob("*")
        if path.is_file()
    }
    return expected


def _fresh_environment(tmp_path: Path, wheel: Path) -> Path:
    """A plain virtual environment (not --system-site-packages) with the wheel alone; the
    dependencies come from this environment's site-packages, named in a .pth file: a
    directory named there is put on sys.path, but its own .pth files (the editable install's
    finder) are not run. Returns the environment."""
    environment = tmp_path / "venv"
    run_command(
        [sys.executable, "-m", "venv", "--without-pip", environment],
        cwd=tmp_path,
        timeout=CLI_SECONDS,
    )
    python = environment / "bin" / "python"
    run_command(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            wheel,
        ],
        cwd=tmp_path,
        timeout=BUILD_SECONDS,
    )
    own_site = Path(
        run_command(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            cwd=tmp_path,
            timeout=CLI_SECONDS,
        ).strip()
    )
    dependencies = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (own_site / "dependencies.pth").write_text("".join(f"{d}\n" for d in dependencies))
    return environment


@pytest.mark.slow
def test_the_wheel_serves_the_sign_in_page_from_a_fresh_environment(tmp_path: Path) -> None:
    assert not tmp_path.resolve().is_relative_to(REPO)
    _require_build_backend()

    source, wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        members = set(archive.namelist())
    for shipped in (
        "idp/templates/login.html",
        "idp/templates/admin/users.html",
        "idp/templates/email/establishment_created.txt",
        "idp/static/css/cpro.css",
        "idp/static/js/busy.js",
        "idp/locale/en/LC_MESSAGES/messages.mo",
        "idp/data/common_passwords.txt",
        "idp/migrations/env.py",
        "idp/migrations/script.py.mako",
        "idp/migrations/versions/0001_initial.py",
    ):
        assert shipped in members
    missing = sorted(_expected_in_wheel(source) - members)
    assert not missing, (
        f"files left out of the wheel (add their folder to [tool.setuptools] packages and "
        f"package-data in pyproject.toml): {missing}"
    )

    environment = _fresh_environment(tmp_path, wheel)
    idp = environment / "bin" / "idp"
    workdir = tmp_path / "run"
    workdir.mkdir()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    # Nothing from the outer environment may lead back to the checkout or change the settings.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IDP_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env.update(
        {
            "IDP_DATABASE_URL": f"sqlite:///{workdir / 'idp.db'}",
            "IDP_SECRET_KEY": secrets.token_urlsafe(48),
            "IDP_ARGON2_MEMORY_KIB": "1024",
            "IDP_ARGON2_TIME_COST": "1",
            "IDP_MAIL_BACKEND": "file",
            "IDP_MAIL_DIR": str(workdir / "mail"),
            "IDP_BASE_URL": base_url,
        }
    )

    probe = json.loads(
        run_command(
            [
                environment / "bin" / "python",
                "-c",
                "import json, sys, idp, idp.templating as t; print(json.dumps({"
                "'idp': idp.__file__, 'templates': str(t.TEMPLATES_DIR), 'path': sys.path,"
                "'finders': [repr(f) for f in sys.meta_path],"
                "'editable': [m for m in sys.modules if 'editable' in m]}))",
            ],
            cwd=workdir,
            env=env,
            timeout=CLI_SECONDS,
        )
    )
    package = Path(probe["idp"]).resolve()
    assert package.is_relative_to(environment.resolve()), probe
    assert not package.is_relative_to(REPO), probe
    assert Path(probe["templates"]).resolve() == package.parent / "templates", probe
    assert not [f for f in probe["finders"] if "editable" in f.lower()], probe
    assert probe["editable"] == [], probe
    assert str(REPO) not in probe["path"], probe

    run_command([idp, "db", "upgrade"], cwd=workdir, env=env, timeout=CLI_SECONDS)
    run_command(
        [
            idp,
            "establishment",
            "create",
            SCHOOL,
            "--name",
            SCHOOL_NAME,
            "--uai",
            UAI_A,
            "--email",
            "secretariat@lp-a.example",
        ],
        cwd=workdir,
        env=env,
        timeout=CLI_SECONDS,
    )
    assert list((workdir / "mail").glob("*.eml")), "the admin's access was not mailed"

    log = workdir / "serve.log"
    process = start_server(
        [idp, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        env=env,
        log=log,
        health_url=f"{base_url}/healthz",
    )
    try:
        with httpx.Client(base_url=base_url, timeout=10) as http:
            page = http.get(f"/{SCHOOL}/login")
            assert page.status_code == 200, page.text
            assert "Authentification" in page.text
            assert "SE CONNECTER" in page.text
            assert SCHOOL_NAME in page.text

            # The English catalogue is in the wheel and in use.
            english = http.get(f"/{SCHOOL}/login", params={"lang": "en"})
            assert english.status_code == 200
            assert "SIGN IN" in english.text

            stylesheet = re.search(r'<link rel="stylesheet" href="(/static/[^"]+\.css)"', page.text)
            assert stylesheet, page.text
            css = http.get(stylesheet.group(1))
            assert css.status_code == 200
            assert css.headers["content-type"].startswith("text/css")
            assert css.content == (source / "idp" / stylesheet.group(1).lstrip("/")).read_bytes()
    finally:
        stop_server(process)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")
