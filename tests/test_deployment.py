"""What docs/deployment.md and deploy/ claim: the alert rules load and fire where they
should (promtool), they and the dashboard name only metrics the provider exports, every
setting is documented, and a backup restores into a fresh database where one signs in."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from conftest import PG_URL, missing_service
from helpers import UAI_A, sign_in
from idp.app import create_app
from idp.db import make_engine
from idp.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
IDP = Path(sys.executable).parent / "idp"
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        missing_service("promtool (Debian package prometheus) to check the alert rules")
    return str(found)


def test_the_alert_rules_load():
    result = subprocess.run(
        [promtool(), "check", "rules", str(DEPLOY / "prometheus/alerts.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_the_alerts_fire_where_they_should():
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yml"],
        cwd=DEPLOY / "prometheus", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def exported(client: TestClient) -> set[str]:
    """Every metric family /metrics declares, used or not yet."""
    text_ = client.get("/metrics").text
    return {family.name for family in text_string_to_metric_families(text_)}


def named_in(expression: str) -> set[str]:
    names = set(re.findall(r"\bidp_[a-z_]+", expression))
    return {next((n[: -len(s)] for s in SUFFIXES if n.endswith(s)), n) for n in names}


def test_rules_and_dashboard_name_only_exported_metrics(app):
    with TestClient(app, client=("127.0.0.1", 5000)) as local:
        families = exported(local)
    assert "idp_sign_ins" in families and "idp_password_hash_wait_seconds" in families
    rules = (DEPLOY / "prometheus/alerts.yml").read_text()
    dashboard = json.loads((DEPLOY / "grafana/dashboard.json").read_text())
    expressions = [rules] + [
        target["expr"] for panel in dashboard["panels"] for target in panel["targets"]
    ]
    used = set().union(*(named_in(e) for e in expressions))
    assert used, "no metric named"
    assert used <= families, used - families


def test_every_setting_is_documented():
    source = (ROOT / "idp/settings.py").read_text()
    read = set(re.findall(r'"(IDP_[A-Z0-9_]+)"', source))
    assert {"IDP_DATABASE_URL", "IDP_METRICS_TOKEN", "IDP_LOG_FORMAT"} <= read
    guide = (ROOT / "docs/deployment.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in sorted(read):
        assert f"| `{name}` |" in guide, f"{name} is not in docs/deployment.md's table"
        assert f"`{name}`" in readme, f"{name} is not in the README"


def test_the_guide_links_only_to_files_that_exist():
    guide = (ROOT / "docs/deployment.md").read_text()
    for target in re.findall(r"\]\((\.\./[^)#]+)\)", guide):
        assert (ROOT / "docs" / target).resolve().exists(), target
    for test in re.findall(r"`(tests/[a-z_/]+\.py)`", guide):
        assert (ROOT / test).exists(), test
    assert "docs/deployment.md" in (ROOT / "README.md").read_text()


# -- backups -------------------------------------------------------------------------------


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def two_databases():
    """Two new, empty PostgreSQL databases (a live one and the one a backup goes to)."""
    if not PG_URL:
        missing_service("PostgreSQL: set IDP_TEST_DATABASE_URL to run the PostgreSQL tests")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        missing_service("pg_dump and pg_restore (Debian package postgresql-client)")
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    names = [f"idp_backup_{os.getpid()}_{secrets.token_hex(3)}_{n}" for n in ("live", "back")]
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = make_url(PG_URL)
    try:
        yield [base.set(database=n).render_as_string(hide_password=False) for n in names]
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_backup_restores_into_a_fresh_database_where_one_signs_in(two_databases, tmp_path):
    live, restored = two_databases
    key = secrets.token_urlsafe(48)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env |= {"IDP_DATABASE_URL": live, "IDP_SECRET_KEY": key, "IDP_MAIL_BACKEND": "file",
            "IDP_MAIL_DIR": str(tmp_path / "mail")}  # fmt: skip

    def idp(*args: str, stdin: str | None = None) -> str:
        result = subprocess.run([str(IDP), *args], env=env, input=stdin, capture_output=True,
                                text=True, check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    idp("db", "upgrade")
    idp("establishment", "create", "lp-a", "--name", "Lycée A", "--uai", UAI_A,
        "--email", "secretariat@lp-a.example")  # fmt: skip
    idp("user", "add", "lp-a", "--first-name", "Léa", "--last-name", "Martin",
        "--birth-date", "2009-03-14", "--role", "student")  # fmt: skip
    idp("user", "set-password", "lp-a", "lea.martin", "--password-stdin",
        stdin="ma tortue verte lit le journal")  # fmt: skip

    backup = subprocess.run(
        [str(DEPLOY / "backup.sh"), libpq(live), str(tmp_path / "backups")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert backup.returncode == 0, backup.stderr
    dump = Path(backup.stdout.strip())
    assert dump.parent == tmp_path / "backups" and dump.suffix == ".dump" and dump.stat().st_size
    assert not list(dump.parent.glob("*.partial"))

    restore = subprocess.run(
        [str(DEPLOY / "restore.sh"), str(dump), libpq(restored)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert restore.returncode == 0, restore.stderr
    # Never over a database that holds something.
    again = subprocess.run(
        [str(DEPLOY / "restore.sh"), str(dump), libpq(restored)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert again.returncode == 2 and "not empty" in again.stderr

    # The restored database serves: Léa signs in there, and its keys open with the key.
    settings = Settings(
        database_url=restored, secret_key=key, argon2_memory_kib=256, argon2_time_cost=1,
        mail_backend="file", mail_dir=tmp_path / "mail",
    )  # fmt: skip
    app = create_app(settings)
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as browser:
        assert browser.get("/readyz").json() == {"status": "ok", "database": "ok", "keys": "ok"}
        answer = sign_in(browser, "lp-a", "lea.martin", "ma tortue verte lit le journal")
        assert answer.status_code == 303, answer.text[:300]
        assert answer.headers["location"] == "/lp-a"
        assert "ma tortue" not in dump.read_bytes().decode("latin-1")  # hashed


def test_the_scripts_say_how_to_use_them():
    for script in ("backup.sh", "restore.sh"):
        result = subprocess.run([str(DEPLOY / script)], capture_output=True, text=True,
                                check=False)  # fmt: skip
        assert result.returncode == 2
        assert result.stderr.startswith("usage:")


def test_the_systemd_unit_is_valid(tmp_path):
    """`systemd-analyze verify` on the unit as shipped, its programs pointed at ones that
    exist here (/opt/cpro-connect is the operator's)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        missing_service("systemd-analyze (Debian package systemd) to check the unit")
    unit = (DEPLOY / "cpro-connect.service").read_text()
    assert "ExecStart=/opt/cpro-connect/.venv/bin/idp serve" in unit
    local = tmp_path / "cpro-connect.service"
    local.write_text(unit.replace("/opt/cpro-connect/.venv/bin/idp", str(IDP)))
    result = subprocess.run(
        [analyze, "verify", str(local)], capture_output=True, text=True, check=False
    )
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 0 and not complaints, complaints
