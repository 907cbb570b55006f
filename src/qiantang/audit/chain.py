"""The audit log's hash chain: canonical form, digest, appending and verifying.

Each event's hash covers its content and the previous event's hash, so changing a stored event
breaks its own hash and deleting one breaks the sequence and the next event's link. The digest is
SM3 (GB/T 32905-2016, which GB/T 39786-2021 expects of government systems), through OpenSSL in
:mod:`hashlib`; SHA-256 only where the OpenSSL build lacks SM3.

Not covered: ``user_id`` (set to NULL when a user is deleted; the hashed ``username`` keeps who it
was), and cutting events off the END of the log — :func:`verify` reports the head (last sequence
number and hash) so a scheduled job or a backup manifest can keep it outside the database.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from qiantang.audit.models import AuditEvent

GENESIS = "0" * 64
# Any fixed 64-bit number: the key of the PostgreSQL advisory lock that serialises appends.
CHAIN_LOCK_KEY = 7_263_024_117_001
_BATCH = 5000


def algorithm() -> str:
    """SM3 when OpenSSL offers it, else SHA-256."""
    return "sm3" if "sm3" in hashlib.algorithms_available else "sha256"


def canonical(
    *,
    seq: int,
    at: datetime,
    username: str | None,
    action: str,
    object_type: str | None,
    object_id: str | None,
    detail: Any,
    ip: str | None,
    prev_hash: str,
) -> bytes:
    """The bytes that are hashed: sorted-key JSON of the content plus the previous hash."""
    content = {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "username": username,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "detail": detail,
        "ip": ip,
        "prev_hash": prev_hash,
    }
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


@cache
def _blank(name: str):
    return hashlib.new(name)


def digest(data: bytes) -> str:
    # Copying a ready hasher skips OpenSSL's algorithm look-up on every event (about 3x faster).
    h = _blank(algorithm()).copy()
    h.update(data)
    return h.hexdigest()


def event_hash(event: Any) -> str:
    """The hash an event (ORM object or row) should carry."""
    return digest(
        canonical(
            seq=event.seq,
            at=event.at,
            username=event.username,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            detail=event.detail,
            ip=event.ip,
            prev_hash=event.prev_hash,
        )
    )


def _head(session: Session) -> tuple[int, str]:
    """The last link: events of this transaction not yet flushed first, then the stored head."""
    pending = [obj for obj in session.new if isinstance(obj, AuditEvent) and obj.seq is not None]
    if pending:
        last = max(pending, key=lambda e: e.seq)
        return last.seq, last.row_hash
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appends: a second writer waits here until the first commits, then sees its row.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY})
    with session.no_autoflush:  # other pending objects are the caller's business
        row = session.execute(
            select(AuditEvent.seq, AuditEvent.row_hash).order_by(AuditEvent.seq.desc()).limit(1)
        ).first()
    return (row.seq, row.row_hash) if row else (0, GENESIS)


def link(session: Session, event: AuditEvent) -> None:
    """Give a new event its place in the chain: sequence number, previous hash and own hash."""
    seq, prev = _head(session)
    event.seq = seq + 1
    event.prev_hash = prev
    event.row_hash = event_hash(event)


@dataclass(frozen=True)
class ChainState:
    """What verification found. ``problem`` is None when the chain is whole."""

    checked: int
    head_seq: int  # the last sound link: its sequence number and hash
    head_hash: str
    problem: str | None = None  # "edited" | "missing" | "relinked"
    bad_seq: int | None = None  # the first altered or missing sequence number
    bad_id: int | None = None  # the stored row where the break shows
    found_seq: int | None = None  # for "missing": the number found in its place

    @property
    def ok(self) -> bool:
        return self.problem is None

    def describe_zh(self) -> str:
        if self.ok:
            return f"审计链完整：共 {self.checked} 条记录，逐条核验无误"
        if self.problem == "edited":
            return f"审计链断裂：第 {self.bad_seq} 条记录的内容被改动（与其校验值不符）"
        if self.problem == "missing":
            return f"审计链断裂：第 {self.bad_seq} 条记录缺失（已被删除），其后现存的是第 {self.found_seq} 条"
        return f"审计链断裂：第 {self.bad_seq} 条记录与前一条衔接不上（前面的记录被删除或改动）"

    def describe_en(self) -> str:
        if self.ok:
            return f"Audit chain intact: {self.checked} events, each verified"
        if self.problem == "edited":
            return f"Audit chain broken: event no. {self.bad_seq} was altered (its hash does not match)"
        if self.problem == "missing":
            return (
                f"Audit chain broken: event no. {self.bad_seq} is missing (deleted); "
                f"the next one present is no. {self.found_seq}"
            )
        return f"Audit chain broken: event no. {self.bad_seq} does not link to the one before it"


_COLUMNS = (
    AuditEvent.id,
    AuditEvent.seq,
    AuditEvent.at,
    AuditEvent.username,
    AuditEvent.action,
    AuditEvent.object_type,
    AuditEvent.object_id,
    AuditEvent.detail,
    AuditEvent.ip,
    AuditEvent.prev_hash,
    AuditEvent.row_hash,
)


def _rows(session: Session, after: int = 0) -> Iterator[Any]:
    """Every event after ``after`` in sequence order, in batches (plain rows: no ORM objects pile up)."""
    last = after
    while True:
        batch = session.execute(
            select(*_COLUMNS).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(_BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].seq


# Per database: (when, sequence number, hash) of the last whole verification that found no problem.
_VERIFIED: dict[str, tuple[float, int, str]] = {}


def verify(session: Session, *, reuse_seconds: float = 0) -> ChainState:
    """Walk the chain in order and name the first event that is altered or missing.

    With ``reuse_seconds`` (the audit page) a whole verification that found no problem that long
    ago is taken as the starting point — its last event must still carry the same hash — and only
    the events after it are checked; so an edit of an older event shows within that many seconds.
    """
    bind = session.get_bind()
    key = str(getattr(bind, "engine", bind).url)
    expected, prev, checked = 1, GENESIS, 0
    cached = _VERIFIED.get(key)
    started = time.monotonic()
    if reuse_seconds and cached and started - cached[0] < reuse_seconds:
        when, seq, head = cached
        stored = session.execute(select(AuditEvent.row_hash).where(AuditEvent.seq == seq)).scalar()
        if stored == head:
            expected, prev, checked, started = seq + 1, head, seq, when
    state = _walk(session, expected, prev, checked)
    if state.ok:
        _VERIFIED[key] = (started, state.head_seq, state.head_hash)
    return state


def _walk(session: Session, expected: int, prev: str, checked: int) -> ChainState:
    for event in _rows(session, expected - 1):
        if event.seq != expected:
            return ChainState(checked, expected - 1, prev, "missing", expected, event.id, event.seq)
        if event.row_hash != event_hash(event):
            return ChainState(checked, expected - 1, prev, "edited", event.seq, event.id)
        if event.prev_hash != prev:
            return ChainState(checked, expected - 1, prev, "relinked", event.seq, event.id)
        checked += 1
        prev = event.row_hash
        expected += 1
    return ChainState(checked, expected - 1, prev)
