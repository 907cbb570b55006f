"""What every request passes before a route sees it (pure ASGI middleware).

- The body of a POST/PUT/PATCH/DELETE is read whole first, up to a cap (413 beyond it), so a slow
  client never holds a database transaction (on SQLite: the write lock) while it sends.
- Writing requests take turns before they take a worker thread: at most one at a time on SQLite
  (one write lock), at most ``web_threads // 2`` on PostgreSQL. A request holding a lock (SQLite's
  write lock, a PostgreSQL row lock) moves between worker threads (dependency, route, commit); if
  every thread were taken by requests waiting for that lock, it could never finish (50 parallel
  writers stalled for the whole timeout and failed). With the turns, threads are always left over.
  The bookkeeping writes a request leaves (``db.after_read``: an export's audit row, a token's
  last-use time) run here in one short transaction, in the request's turn, before the response starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.requests import Request

from qiantang.config import get_settings
from qiantang.db import get_engine, run_after_read
from qiantang.safetext import has_control

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CONTROL_MESSAGE = (
    "输入内容含有不可见的控制字符，请删除后重试",
    "The input holds control characters; remove them",
)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def has_control_input(query: bytes, content_type: str, body: bytes) -> bool:
    """Whether the query string, or a form or JSON body, holds a control character."""
    texts = [part for pair in parse_qsl(query.decode("latin-1"), keep_blank_values=True) for part in pair]
    if content_type.startswith("application/x-www-form-urlencoded"):
        texts += [
            p for pair in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True) for p in pair
        ]
    elif content_type.startswith("application/json") and body:
        with contextlib.suppress(ValueError):  # FastAPI answers malformed JSON itself
            texts += list(_strings(json.loads(body)))
    return any(has_control(t) for t in texts)


def max_body_bytes() -> int:
    # An upload's cap plus room for the multipart envelope and the other form fields.
    return int(get_settings().upload_max_mb * 1024 * 1024) + 1024 * 1024


PENDING_WRITES = "pending_writes"  # key in the request state: writes a read request left (db.after_read)


class RequestGuardMiddleware:
    def __init__(self, app):
        self.app = app
        self._turns: asyncio.Semaphore | None = None

    def _turn(self) -> asyncio.Semaphore:
        if self._turns is None:
            sqlite = get_engine().dialect.name == "sqlite"
            self._turns = asyncio.Semaphore(1 if sqlite else max(1, get_settings().web_threads // 2))
        return self._turns

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        if scope["method"] in UNSAFE_METHODS:
            limit = max_body_bytes()
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await self._refuse(scope, send, 413, _too_large(limit))
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
        headers = dict(scope.get("headers", []))
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if has_control_input(scope.get("query_string", b""), content_type, body):
            await self._refuse(scope, send, 422, CONTROL_MESSAGE)
            return
        state = scope.setdefault("state", {})
        state[PENDING_WRITES] = []
        if scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, self._writing_pending(state, send, take_turn=True))
            return
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async with self._turn():
            await self.app(scope, replay, self._writing_pending(state, send, take_turn=False))

    def _writing_pending(self, state: dict, send, *, take_turn: bool):
        async def send_after_writes(message):
            if message["type"] == "http.response.start" and state.get(PENDING_WRITES):
                pending, state[PENDING_WRITES] = state[PENDING_WRITES], []
                async with self._turn() if take_turn else contextlib.nullcontext():
                    await anyio.to_thread.run_sync(run_after_read, pending)
            await send(message)

        return send_after_writes

    async def _refuse(self, scope, send, status: int, message: tuple[str, str]) -> None:
        from qiantang.web.errors import error_response

        response = error_response(Request(scope), status, message[0], message[1])
        await response(scope, _no_receive, send)


def _too_large(limit: int) -> tuple[str, str]:
    mb = limit // (1024 * 1024)
    return (f"提交的内容超过 {mb} MB 的上限", f"The request is larger than {mb} MB")


async def _no_receive():
    return {"type": "http.disconnect"}
