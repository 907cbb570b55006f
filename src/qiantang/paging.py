"""Keyset pagination for long lists: pages by a stable key (the id), not by OFFSET.

An OFFSET page makes the database read and skip every row before it (page 2,000 of a million firms
reads 100,000 rows); a keyset page reads only its own rows, through the key's index, wherever it is.
The links carry the key: "next" = rows after the page's last id, "previous" = rows before its first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from cachetools import TTLCache
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class KeysetPage:
    """One page of rows and where the neighbouring pages start."""

    rows: list[Any]
    next_after: int | None  # key for the "next" link (None on the last page)
    prev_before: int | None  # key for the "previous" link (None on the first page)
    total: int = 0
    total_capped: bool = False  # total is a lower bound: there are more than ``total`` rows
    total_cached: bool = False  # total may be up to COUNT_TTL_SECONDS old

    def counted(self, total: int, capped: bool, cached: bool = False) -> KeysetPage:
        return replace(self, total=total, total_capped=capped, total_cached=cached)


def keyset_page(
    session: Session, stmt: Select, key, *, limit: int, after: int | None = None, before: int | None = None
) -> KeysetPage:
    """The ``limit`` rows of ``stmt`` after key ``after`` (or before ``before``) in ``key`` order."""
    if before is not None:
        rows = list(session.scalars(stmt.where(key < before).order_by(key.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit][::-1]
        return KeysetPage(
            rows,
            next_after=_key(rows[-1], key) if rows else None,
            prev_before=_key(rows[0], key) if rows and more else None,
        )
    if after is not None:
        stmt = stmt.where(key > after)
    rows = list(session.scalars(stmt.order_by(key).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return KeysetPage(
        rows,
        next_after=_key(rows[-1], key) if rows and more else None,
        prev_before=_key(rows[0], key) if rows and after is not None else None,
    )


def _key(row, key) -> int:
    return getattr(row, key.key)


# Counts of slow lists, kept a minute: the same search by many users (or paging through it) counts once.
# The key is the database and the exact SQL with its parameters, which carry the user's scope.
COUNT_TTL_SECONDS = 60
_counts: TTLCache = TTLCache(maxsize=1024, ttl=COUNT_TTL_SECONDS)
_counts_lock = threading.Lock()


def count_capped(
    session: Session, stmt: Select, key, *, cap: int | None, cached: bool = False
) -> tuple[int, bool]:
    """How many rows ``stmt`` matches, counting at most ``cap`` (None: all); True when capped.

    ``cached``: reuse a count made in the last COUNT_TTL_SECONDS (pages that say so).
    """
    inner = stmt.with_only_columns(key).order_by(None)
    if cap is not None:
        inner = inner.limit(cap + 1)
    query = select(func.count()).select_from(inner.subquery())
    cache_key = None
    if cached:
        compiled = query.compile(session.get_bind())
        params = tuple(sorted((k, repr(v)) for k, v in compiled.params.items()))
        cache_key = (str(session.get_bind().engine.url), str(compiled), params)
        with _counts_lock:
            hit = _counts.get(cache_key)
        if hit is not None:
            return hit
    n = session.scalar(query) or 0
    out = (cap, True) if cap is not None and n > cap else (n, False)
    if cache_key is not None:
        with _counts_lock:
            _counts[cache_key] = out
    return out


def clear_count_cache() -> None:
    """Forget the cached counts (tests; after a bulk load in the same process)."""
    with _counts_lock:
        _counts.clear()


IN_CHUNK = 500  # ids per IN (…) list: well under SQLite's and PostgreSQL's parameter limits


def load_in_order(session: Session, model: type, ids: list[int]) -> list[Any]:
    """The rows of ``model`` with these ids, in the order of ``ids`` (a page sorted on the ids alone,
    then loaded whole: sorting narrow rows is what makes a long list's page cheap)."""
    by_id: dict[int, Any] = {}
    for start in range(0, len(ids), IN_CHUNK):
        rows = session.scalars(select(model).where(model.id.in_(ids[start : start + IN_CHUNK]))).unique()
        by_id.update((row.id, row) for row in rows)
    return [by_id[i] for i in ids if i in by_id]
