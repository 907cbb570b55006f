"""A real server and a real worker as child processes, on a private copy of the tiny demo city."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(db_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "QIANTANG_DATABASE_URL": f"sqlite:///{db_path}"}
    env.pop("QIANTANG_JOBS_QUEUE_URL", None)  # the queue beside the database, as in production
    env.update(extra)
    return env


@contextmanager
def child(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "qiantang", *args], env=env, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def server(db_path: Path, log: Path, *, worker: bool = False, **extra: str) -> Iterator[str]:
    """``qiantang serve`` (uvicorn) on a free port; yields its base URL once /healthz answers."""
    port = free_port()
    args = ["serve", "--port", str(port)] + ([] if worker else ["--no-worker"])
    with child(args, child_env(db_path, **extra), log) as proc:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield url


@dataclass
class Login:
    cookie: str
    csrf: str

    def headers(self) -> dict[str, str]:
        from qiantang.web.deps import SESSION_COOKIE

        return {"Cookie": f"{SESSION_COOKIE}={self.cookie}", "X-CSRF-Token": self.csrf}


def login(db_path: Path, username: str) -> Login:
    """A login session written straight into the database (as tests/conftest.py Clients does)."""
    from sqlalchemy.orm import Session

    from qiantang.auth.service import get_user_by_username, start_session
    from qiantang.db import make_engine

    engine = make_engine(f"sqlite:///{db_path}")
    try:
        with Session(engine) as session:
            new = start_session(session, user=get_user_by_username(session, username))
            session.commit()
            return Login(new.token, new.record.csrf_token)
    finally:
        engine.dispose()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, data, ctype) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request(url: str, *, data: bytes | None = None, headers: dict | None = None, timeout: float = 30):
    """(status, body, headers) without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(
        url, data=data, headers=headers or {}, method="POST" if data is not None else "GET"
    )
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def job_status(db_path: Path, job_id: int) -> dict:
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    out = dict(row)
    out["result"] = json.loads(out["result"]) if out["result"] else None
    return out


@pytest.fixture
def city_copy(snapshot_copy) -> Path:
    return snapshot_copy
