"""`make run`: the provider and the two demo modules, stopped together with Ctrl-C.

Reads the modules' settings from .demo/clients.env (written by `idp demo`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ENV_FILE = Path(".demo/clients.env")


def main() -> int:
    if not ENV_FILE.is_file():
        print(f"{ENV_FILE} is missing: run `idp demo` first", file=sys.stderr)
        return 2
    values = dict(
        line.split("=", 1)
        for line in ENV_FILE.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    bin_dir = Path(sys.executable).parent
    processes = [
        subprocess.Popen([str(bin_dir / "idp"), "serve", "--host", "127.0.0.1", "--port", "8000"])  # noqa: S603
    ]
    for key in ("STI", "PASSEPORT"):
        env = {
            **os.environ,
            "DEMO_NAME": values[f"{key}_NAME"],
            "DEMO_BASE_URL": values[f"{key}_BASE_URL"],
            "DEMO_ISSUER": values["DEMO_ISSUER"],
            "DEMO_CLIENT_ID": values[f"{key}_CLIENT_ID"],
            "DEMO_CLIENT_SECRET": values[f"{key}_CLIENT_SECRET"],
        }
        processes.append(subprocess.Popen([sys.executable, "-m", "clients.demo_module"], env=env))
    print(
        f"\nCPRO Connect:            {values['DEMO_ISSUER']}\n"
        f"{values['STI_NAME']:<24} {values['STI_BASE_URL']}\n"
        f"{values['PASSEPORT_NAME']:<24} {values['PASSEPORT_BASE_URL']}\n"
        "Ctrl-C stops all three.\n",
        flush=True,
    )
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
