"""Screenshots for the user guide (docs/guide/img/), taken from the demo city so they stay true.

    .venv/bin/python scripts/guide_screenshots.py                # a fresh tiny demo in a temporary folder
    .venv/bin/python scripts/guide_screenshots.py --base-url http://127.0.0.1:8000   # a running demo

Each picture is the first screen (1366×768) of a page, as the role the guide describes sees it, saved
as JPEG (quality 72) to keep the repository small. Re-run after page layouts change. Needs Chromium
(QIANTANG_CHROMIUM, default /usr/bin/chromium) and Playwright, which the test extras install.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "guide" / "img"
CHROMIUM = os.environ.get("QIANTANG_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1366, "height": 768}

# (file, demo login, page); a page "first:<list>|<pattern>" is the first link on <list> matching <pattern>.
SHOTS: tuple[tuple[str, str, str], ...] = (
    ("login.jpg", "", "/login"),
    ("overview.jpg", "admin", "/"),
    ("plan.jpg", "admin", "/plan"),
    ("plan-indicator.jpg", "admin", r"first:/plan|^/plan/indicators/"),
    ("institutions.jpg", "admin", "/institutions"),
    ("institution.jpg", "admin", r"first:/institutions|^/institutions/\d+$"),
    ("filings.jpg", "admin", "/filings"),
    ("filings-reporter.jpg", "reporter", "/filings"),
    ("statistics.jpg", "admin", "/statistics"),
    ("early-warning.jpg", "admin", "/early-warning"),
    ("alerts.jpg", "admin", "/early-warning/alerts"),
    ("risk-profile.jpg", "admin", r"first:/early-warning|^/early-warning/institutions/\d+$"),
    ("cases.jpg", "admin", "/cases"),
    ("case.jpg", "xihu", r"first:/cases|^/cases/\d+$"),
    ("enterprises.jpg", "admin", "/enterprises"),
    ("enterprise.jpg", "admin", r"first:/enterprises|^/enterprises/[0-9A-Z]{18}$"),
    ("credit.jpg", "admin", "/credit"),
    ("network.jpg", "admin", "/network"),
    ("network-group.jpg", "admin", r"first:/network|^/network/groups/\d+$"),
    ("listing.jpg", "admin", "/listing"),
    ("listing-funnel.jpg", "admin", "/listing/funnel"),
    ("matching.jpg", "admin", "/matching"),
    ("audit.jpg", "admin", "/audit"),
    ("users.jpg", "admin", "/users"),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def demo_server():
    """A tiny demo city in a temporary SQLite file, served by uvicorn in a thread."""
    import uvicorn

    from qiantang import demo, migrate
    from qiantang.bootstrap import sync_all
    from qiantang.db import make_engine, session_scope, use_engine
    from qiantang.web.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'guide.db'}"
        migrate.upgrade(url)
        engine = make_engine(url)
        use_engine(engine)
        with session_scope() as session:
            sync_all(session)
        print("loading the tiny demo city …", flush=True)
        demo.load(engine, scale="tiny")
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            engine.dispose()


def take(base_url: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from qiantang.demo import DEMO_USERS

    passwords = {u.username: u.password for u in DEMO_USERS}
    OUT.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            headless=True,
        )
        contexts = {}
        for name, username, target in SHOTS:
            if username not in contexts:
                ctx = browser.new_context(base_url=base_url, locale="zh-CN", viewport=VIEWPORT)
                page = ctx.new_page()
                if username:
                    page.goto("/login")
                    page.fill("#username", username)
                    page.fill("#password", passwords[username])
                    page.click("button[type=submit]")
                    page.wait_for_url("**/")
                contexts[username] = page
            page = contexts[username]
            if target.startswith("first:"):
                listing, pattern = target.removeprefix("first:").split("|", 1)
                page.goto(listing)
                hrefs = page.eval_on_selector_all(
                    "main a[href]", "els => els.map(e => e.getAttribute('href'))"
                )
                matches = [h for h in hrefs if re.match(pattern, h)]
                if not matches:
                    print(f"skipped {name}: no link matching {pattern} on {listing}", file=sys.stderr)
                    continue
                target = matches[0]
            response = page.goto(target)
            if response is None or response.status != 200:
                print(
                    f"skipped {name}: {target} answered {response.status if response else '-'}",
                    file=sys.stderr,
                )
                continue
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(600)  # ECharts' entry animation
            path = OUT / name
            page.screenshot(path=str(path), type="jpeg", quality=72)
            saved.append(path)
            print(f"{name:24} {target}  {path.stat().st_size // 1024} KB", flush=True)
        browser.close()
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running demo (default: load a tiny demo and serve it)")
    args = parser.parse_args()
    if args.base_url:
        take(args.base_url.rstrip("/"))
    else:
        with demo_server() as base_url:
            take(base_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
