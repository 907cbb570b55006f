"""A real server on a copy of the demo database, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import copy_sqlite

CHROMIUM = os.environ.get("QIANTANG_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("QIANTANG_TEST_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(sqlite_snapshot, tmp_path_factory):
    """Serve the app with uvicorn in a thread, on its own copy of the tiny demo database."""
    import uvicorn

    from qiantang.db import make_engine, use_engine
    from qiantang.web.app import create_app

    path: Path = tmp_path_factory.mktemp("live") / "qiantang.db"
    copy_sqlite(sqlite_snapshot, path)
    use_engine(make_engine(f"sqlite:///{path}"))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if REQUIRE_BROWSER:
            pytest.fail(f"browser tests required but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server, locale="zh-CN", viewport={"width": 1400, "height": 900}
    )
    p = context.new_page()
    yield p
    context.close()
