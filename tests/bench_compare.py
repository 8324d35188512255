"""`make bench-compare BENCH=DIR`: our provider side by side with the certified peer that
DIR holds (a copy of the shared bench folder, installed with its install.sh), in one run on
this machine, the way DIR's README says: each server pinned to CPU 1 in turn, the load
generator on CPU 0, `--engine raw`, the same scenarios and concurrency levels. Prints the
table of ratios and writes every raw report into the output folder. With `--rounds N`, the
peer and ours are measured in turn N times (both servers stay up, the one not measured
idle), and the median ratio is printed with its range: on a shared machine, whose speed
drifts within minutes, one window each can put the two servers in different weather.

Our provider runs as one real `idp serve` process with the production argon2id parameters,
on SQLite (default) or on PostgreSQL (`--database postgresql+psycopg://…`, a database that
this script may fill), provisioned through the CLI: one establishment, a confidential and a
public client, and one account per simulated browser.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

IDP = str(Path(sys.executable).with_name("idp"))
SCHOOL = "banc"
PASSWORD = "des nuages blancs dans le ciel"
REDIRECT = "http://127.0.0.1:9999/cb"
SCENARIOS = "discovery,jwks,client_credentials,login,sso,refresh,userinfo,introspection"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [IDP, *args], env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"idp {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def provision(env: dict[str, str], accounts: int) -> tuple[dict, dict, list[dict]]:  # type: ignore[type-arg]
    run(env, "db", "upgrade")
    run(env, "establishment", "create", SCHOOL, "--name", "Lycée du banc d'essai",
        "--uai", "0750655E", "--email", "banc@example.org")  # fmt: skip
    users = []
    for i in range(1, accounts + 1):
        login = run(env, "user", "add", SCHOOL, "--first-name", f"Banc{i}", "--last-name",
                    "Essai", "--birth-date", "2009-01-01", "--role", "student").split()[-1]  # fmt: skip
        run(env, "user", "set-password", SCHOOL, login, "--password-stdin", stdin=PASSWORD)
        users.append({"username": login, "password": PASSWORD})
    confidential = json.loads(
        run(env, "client", "add", SCHOOL, "--name", "Banc", "--redirect-uri", REDIRECT, "--json")
    )
    public = json.loads(
        run(
            env,
            "client",
            "add",
            SCHOOL,
            "--name",
            "Banc public",
            "--redirect-uri",
            REDIRECT,
            "--public",
            "--json",
        )
    )
    return confidential, public, users


def target(base: str, confidential: dict, public: dict, users: list[dict], name: str) -> dict:  # type: ignore[type-arg]
    issuer = f"{base}/{SCHOOL}"
    return {
        "name": name,
        "issuer": issuer,
        "discovery_url": f"{issuer}/.well-known/openid-configuration",
        "redirect_uri": REDIRECT,
        "scope": "openid profile email offline_access",
        "confidential_client": {
            "client_id": confidential["client_id"],
            "client_secret": confidential["client_secret"],
            "auth_method": "client_secret_basic",
        },
        "public_client": {"client_id": public["client_id"]},
        "flow_client": "confidential",
        "user": users[0],
        "users": users,
        "login_driver": {
            "type": "html_form",
            "username_field": "login",
            "password_field": "password",
            "consent": {"mode": "auto"},
            "max_steps": 20,
        },
    }


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback http)
                return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"no answer from {url}")
            time.sleep(0.1)


def harness(bench: Path, target_file: Path, pid: int, out: Path, args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    command = [
        str(bench / ".venv/bin/python"), str(bench / "oidc_bench.py"),
        "--target", str(target_file), "--scenarios", args.scenarios,
        "--concurrency", args.concurrency, "--duration", str(args.duration),
        "--engine", "raw", "--cpus", "0", "--server-pid", str(pid),
        "--out-json", str(out.with_suffix(".json")), "--out-md", str(out.with_suffix(".md")),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return json.loads(out.with_suffix(".json").read_text())


def ops(report: dict) -> dict[tuple[str, int], float]:  # type: ignore[type-arg]
    """(scenario, concurrency) → ops/s, from a harness JSON report."""
    found: dict[tuple[str, int], float] = {}
    for cell in report.get("cells", report.get("results", [])):
        scenario = cell.get("scenario")
        concurrency = cell.get("concurrency")
        rate = cell.get("ops_per_s", cell.get("ops_s"))
        if scenario and concurrency and rate is not None:
            found[(scenario, int(concurrency))] = float(rate)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", required=True, help="an installed copy of the shared bench")
    parser.add_argument("--database", help="a PostgreSQL URL (default: SQLite in a temp dir)")
    parser.add_argument("--scenarios", default=SCENARIOS)
    parser.add_argument("--concurrency", default="8,32")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=1,
                        help="peer then ours, this many times; the ratio is the median's")  # fmt: skip
    parser.add_argument("--accounts", type=int, default=40)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default="bench-results")
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    bench = Path(args.bench).resolve()
    if not (bench / ".venv/bin/python").exists():
        sys.exit(f"{bench}: not an installed bench folder (run its install.sh)")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rounds: list[dict[str, dict]] = []  # type: ignore[type-arg]

    workdir = Path(tempfile.mkdtemp(prefix="idp-bench-compare-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(
        {
            "IDP_DATABASE_URL": args.database or f"sqlite:///{workdir / 'idp.db'}",
            "IDP_SECRET_KEY": secrets.token_urlsafe(48),
            "IDP_BASE_URL": base,
            "IDP_MAIL_BACKEND": "file",
            "IDP_MAIL_DIR": str(workdir / "mail"),
            "IDP_LOG_LEVEL": "WARNING",
            # One core for the server: as many hashes at once as it has cores.
            "IDP_HASH_CONCURRENCY": "1",
        }
    )
    confidential, public, users = provision(env, args.accounts)
    database = "PostgreSQL" if args.database else "SQLite"
    name = f"CPRO Connect ({database}, {args.workers} worker)"
    target_file = workdir / "target.json"
    target_file.write_text(json.dumps(target(base, confidential, public, users, name)))
    # Both servers stay up, idle when not measured, so that the rounds can alternate: this
    # machine's speed drifts within minutes (other tenants of the host), and a ratio is
    # only fair between windows close in time.
    peer = not args.skip_peer
    if peer:
        subprocess.run([str(bench / "peer-node/start.sh")], env={**os.environ, "PEER_CPUS": "1"},
                       check=True)  # fmt: skip
    server = subprocess.Popen(
        ["taskset", "-c", "1", IDP, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env, stdout=(workdir / "serve.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(f"{base}/healthz")
        peer_pid = int((bench / "peer-node/run/peer.pid").read_text()) if peer else 0
        for n in range(1, args.rounds + 1):
            suffix = f"-{n}" if args.rounds > 1 else ""
            reports: dict[str, dict] = {}  # type: ignore[type-arg]
            if peer:
                peer_target = bench / "targets/peer-node.json"
                reports["peer"] = harness(bench, peer_target, peer_pid, out / f"peer{suffix}", args)
            reports["ours"] = harness(bench, target_file, server.pid, out / f"ours{suffix}", args)
            rounds.append(reports)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        if peer:
            subprocess.run([str(bench / "peer-node/stop.sh")], check=False)
        shutil.rmtree(workdir, ignore_errors=True)

    if peer:
        print_ratios(rounds)
    print(f"\nraw reports in {out}")


def print_ratios(rounds: list[dict[str, dict]]) -> None:  # type: ignore[type-arg]
    """Each round's ops/s and ratio; over several rounds, the median ratio and the range."""
    per_round = [(ops(r["peer"]), ops(r["ours"])) for r in rounds]
    keys = sorted({key for _, ours in per_round for key in ours})
    print(f"\n{'scenario':<22}{'c':>4}{'peer ops/s':>14}{'ours ops/s':>14}{'ratio':>8}")
    for key in keys:
        ratios = []
        for peer, ours in per_round:
            if peer.get(key) and key in ours:
                ratios.append(ours[key] / peer[key])
                print(f"{key[0]:<22}{key[1]:>4}{peer[key]:>14.1f}{ours[key]:>14.1f}"
                      f"{ratios[-1]:>8.2f}")  # fmt: skip
        if len(ratios) > 1:
            print(f"{'':<22}{'':>4}{'median ratio over ' + str(len(ratios)) + ' rounds':>28}"
                  f"{statistics.median(ratios):>8.2f}  ({min(ratios):.2f}-{max(ratios):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
