"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path


def login_form_token(html: str) -> str:
    """The login form's CSRF token from the page."""
    match = re.search(r'name="login_csrf" value="([^"]+)"', html)
    assert match, "login form without its CSRF token"
    return match.group(1)


def page_csrf_token(html: str) -> str:
    """A logged-in page's CSRF token (from any form on it)."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page without a CSRF token"
    return match.group(1)


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (WAL included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
