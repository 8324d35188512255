"""`python -m clients.demo_module`: serve one demo module (settings from the environment)."""

from __future__ import annotations

from urllib.parse import urlsplit

import uvicorn

from clients.demo_module.app import DemoSettings, create_app

settings = DemoSettings.from_env()
address = urlsplit(settings.base_url)
uvicorn.run(
    create_app(settings),
    host=address.hostname or "127.0.0.1",
    port=address.port or 8001,
    log_level="warning",
)
