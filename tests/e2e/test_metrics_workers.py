"""/metrics with `idp serve --workers 2`: whichever worker answers the scrape, it reports
what every worker counted (prometheus-client's multiprocess mode), and a previous run's
files do not count again."""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from e2e.conftest import IDP, _free_port, run_command, server_env, start_server, stop_server
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families


def fetch(url: str) -> str:
    # A new connection each time: the kernel hands them to either worker.
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback http)
        return str(response.read().decode())


def healthz_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "idp_http_requests_total" and sample.labels["route"] == "/healthz":
                return sample.value
    return 0.0


def healthz_by_worker(directory: Path) -> dict[str, float]:
    """Each worker's own count, from its own file."""
    found = {}
    for path in directory.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False):
            for sample in metric.samples:
                if (
                    sample.name == "idp_http_requests_total"
                    and sample.labels["route"] == "/healthz"
                ):
                    found[path.stem] = found.get(path.stem, 0.0) + sample.value
    return found


def test_every_scrape_adds_up_every_worker(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # A file left by a previous run: its count must not come back.
    stale = metrics_dir / "counter_999999.db"
    stale.write_bytes(b"\0" * 16)
    env = server_env(
        tmp_path, base, IDP_LOG_LEVEL="WARNING", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )
    run_command([IDP, "db", "upgrade"], cwd=tmp_path, env=env)
    server = start_server(
        [IDP, "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=env,
        log=tmp_path / "serve.log",
        health_url=f"{base}/healthz",
    )
    try:
        assert not stale.exists()
        first = healthz_count(fetch(f"{base}/metrics"))  # the start-up probes so far
        sent = 0
        # Batches of simultaneous connections until both workers have answered some (the
        # kernel tends to hand a burst to whichever worker is awake: 12 and 29 of 41 in one
        # run by hand, 41 and 0 in the next).
        for _ in range(30):
            with ThreadPoolExecutor(32) as pool:
                list(pool.map(fetch, [f"{base}/healthz"] * 32))
            sent += 32
            per_worker = healthz_by_worker(metrics_dir)
            if len([n for n in per_worker.values() if n > 0]) >= 2:
                break
        counts = {healthz_count(fetch(f"{base}/metrics")) for _ in range(6)}
    finally:
        stop_server(server)
    assert len([n for n in per_worker.values() if n > 0]) >= 2, per_worker
    # Whichever worker answered, it reported both workers' requests.
    assert counts == {first + sent}, (counts, per_worker)
