"""deploy/nginx.conf as shipped (addresses, ports and certificate paths put to this
machine's), in front of a real `idp serve`: TLS, http sent to https, the client's address
and a request id passed on and believed, /metrics not served, cookies Secure."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
from e2e.conftest import IDP, _free_port, run_command, server_env, start_server, stop_server

from conftest import missing_service
from helpers import UAI_A, self_signed

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_nginx_config_in_front_of_the_provider(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        missing_service("nginx (Debian package nginx-light) to run deploy/nginx.conf")
    backend, plain, tls = _free_port(), _free_port(), _free_port()
    base = f"https://127.0.0.1:{tls}"
    env = server_env(tmp_path, base, IDP_TRUSTED_PROXIES="127.0.0.1/32", IDP_LOG_LEVEL="INFO")
    run_command([IDP, "db", "upgrade"], cwd=tmp_path, env=env)
    run_command([IDP, "establishment", "create", "lp-a", "--name", "Lycée A", "--uai", UAI_A,
                 "--email", "secretariat@lp-a.example"], cwd=tmp_path, env=env)  # fmt: skip
    self_signed("connect.cpro.example", tmp_path / "fullchain.pem", tmp_path / "privkey.pem")
    site = (ROOT / "deploy/nginx.conf").read_text()
    site = re.sub(r"    server 10\.0\.0\.11:8000 .*\n    server 10\.0\.0\.12:8000 .*\n",
                  f"    server 127.0.0.1:{backend};\n", site)  # fmt: skip
    site = re.sub(r"    listen \[::\]:.*\n", "", site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{plain};")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{tls} ssl http2;")
    site = site.replace("/etc/letsencrypt/live/connect.cpro.example", str(tmp_path))
    assert f"server 127.0.0.1:{backend};" in site and str(tmp_path) in site
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/nginx-error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path};\n"
        f"  include {tmp_path}/site.conf;\n}}\n"
    )
    checked = subprocess.run([nginx, "-t", "-c", str(tmp_path / "nginx.conf")],
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stderr

    log = tmp_path / "serve.log"
    server = start_server(
        [IDP, "serve", "--port", str(backend)], cwd=tmp_path, env=env, log=log,
        health_url=f"http://127.0.0.1:{backend}/healthz",
    )  # fmt: skip
    proxy = subprocess.Popen(
        [nginx, "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with httpx.Client(verify=False, timeout=10) as browser:  # noqa: S501 (our own test certificate)
            for _ in range(100):
                try:
                    health = browser.get(f"{base}/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            else:
                raise AssertionError("nginx did not answer")
            # Proxied over TLS; the provider took nginx's request id (32 hex, ours are 16).
            assert health.status_code == 200
            assert re.fullmatch("[0-9a-f]{32}", health.headers["x-request-id"])
            assert browser.get(f"{base}/metrics").status_code == 404
            login = browser.get(f"{base}/lp-a/login")
            assert login.status_code == 200
            cookies = login.headers.get_list("set-cookie")
            assert cookies and all("secure" in c.lower() for c in cookies), cookies
            assert login.headers["strict-transport-security"].startswith("max-age=")
            redirected = browser.get(f"http://127.0.0.1:{plain}/lp-a/login?x=1")
            assert redirected.status_code == 301
            assert redirected.headers["location"] == "https://127.0.0.1/lp-a/login?x=1"
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        stop_server(server)
    lines = log.read_text()
    assert health.headers["x-request-id"] in lines
    assert "client=127.0.0.1" in lines
