"""Name and code search through a real text index, the same substring semantics as ``LIKE '%q%'``.

A table registers its searchable columns once (``register("enterprises", "name")``); its migration calls
:func:`create_index`, and a service adds :func:`matches` to its query. Nothing else changes when a new
module (tips, needs …) becomes searchable.

SQLite — an FTS5 table ``<table>_fts`` with the ``trigram`` tokenizer (SQLite ≥ 3.34), contentless,
kept in step by three triggers on the base table, so every write (ORM, bulk insert, raw SQL) updates it.
Each value is stored with two end markers (``\\x1f\\x1f``) so that every character of a name starts a
trigram: a query of three or more characters is an FTS phrase (exactly "contains q", ASCII letters in
any case, like SQLite's LIKE); a query of one or two characters, which no trigram tokenizer can
match, becomes a range over the index's terms (``fts5vocab``): the names holding a trigram that starts
with q are exactly the names containing q. When q is very common (e.g. "公" or "有限公司"), the index
would return most of the table, and a LIKE scan in id order that stops at the page's last row is
cheaper — :func:`matches` picks by the per-trigram row counts the index already keeps.

PostgreSQL — ``pg_trgm`` GIN indexes on the columns, which serve ``LIKE '%q%'`` itself (so results
and case rules are those of LIKE), and for one- or two-character queries, which yield no trigram, a
GIN index over each value's characters and character pairs (``qiantang_grams``): ``grams @> ARRAY[q]``
finds them, and LIKE rechecks; a very common q reads the table in id order, as on SQLite.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cachetools import TTLCache
from sqlalchemy import ColumnElement, and_, func, literal, or_, select, text, union
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.types import Integer, Text

END = "\x1f\x1f"  # appended to every indexed value: each character then starts a trigram
# Above this many index hits a query reads the table in id order instead (see matches). The term range
# that serves 1–2 characters reads position lists and costs more per hit than a phrase, hence lower.
INDEX_HITS_LIMIT = 20_000
SHORT_INDEX_HITS_LIMIT = 5_000
PREFIX = "sx_"  # names of the PostgreSQL search indexes (kept out of the model comparison)


@dataclass(frozen=True)
class Searchable:
    """A table whose ``columns`` are searched by substring, keyed by the integer ``id`` column."""

    table: str
    columns: tuple[str, ...]

    @property
    def fts(self) -> str:
        return f"{self.table}_fts"

    @property
    def terms(self) -> str:
        """fts5vocab 'row' table: each trigram and how many rows hold it."""
        return f"{self.table}_fts_terms"

    @property
    def instances(self) -> str:
        """fts5vocab 'instance' table: each trigram and the rows holding it."""
        return f"{self.table}_fts_instances"


REGISTRY: dict[str, Searchable] = {}


def register(table: str, *columns: str) -> Searchable:
    """Make ``table``'s ``columns`` searchable (its migration then calls :func:`create_index`)."""
    REGISTRY[table] = Searchable(table, tuple(columns))
    return REGISTRY[table]


# The base domains' searchable columns; later modules add one line each.
register("enterprises", "name")
register("institutions", "name", "uscc")
register("cases", "title")
register("fundraising_tips", "firm_text", "what_happened")  # the tips inbox (migration 0032)


def _indexed(s: Searchable, prefix: str) -> str:
    return ", ".join(f"coalesce({prefix}.{c}, '') || '{END}'" for c in s.columns)


GRAMS_FUNCTION = """
CREATE OR REPLACE FUNCTION qiantang_grams(value text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT g), '{}') FROM (
        SELECT substr(value, i, 1) AS g FROM generate_series(1, char_length(value)) AS i
        UNION ALL
        SELECT substr(value, i, 2) FROM generate_series(1, char_length(value) - 1) AS i
    ) AS grams
$$
"""


def create_index(conn: Connection, table: str) -> None:
    """Build ``table``'s search index from its rows and keep it in step (call from a migration)."""
    s = REGISTRY[table]
    if conn.dialect.name == "sqlite":
        cols = ", ".join(s.columns)
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE {s.fts} USING fts5({cols}, content='', tokenize='trigram')"
        )
        conn.exec_driver_sql(f"CREATE VIRTUAL TABLE {s.terms} USING fts5vocab({s.fts}, row)")
        conn.exec_driver_sql(f"CREATE VIRTUAL TABLE {s.instances} USING fts5vocab({s.fts}, instance)")
        conn.exec_driver_sql(
            f"INSERT INTO {s.fts}(rowid, {cols}) SELECT id, {_indexed(s, table)} FROM {table}"
        )
        new, old = _indexed(s, "new"), _indexed(s, "old")
        delete = f"INSERT INTO {s.fts}({s.fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"
        insert = f"INSERT INTO {s.fts}(rowid, {cols}) VALUES (new.id, {new});"
        conn.exec_driver_sql(f"CREATE TRIGGER {s.fts}_ai AFTER INSERT ON {table} BEGIN {insert} END")
        conn.exec_driver_sql(f"CREATE TRIGGER {s.fts}_ad AFTER DELETE ON {table} BEGIN {delete} END")
        conn.exec_driver_sql(
            f"CREATE TRIGGER {s.fts}_au AFTER UPDATE OF {cols} ON {table} BEGIN {delete} {insert} END"
        )
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        conn.exec_driver_sql(GRAMS_FUNCTION)
        for c in s.columns:
            conn.exec_driver_sql(
                f"CREATE INDEX {PREFIX}{table}_{c}_trgm ON {table} USING gin ({c} gin_trgm_ops)"
            )
            conn.exec_driver_sql(
                f"CREATE INDEX {PREFIX}{table}_{c}_grams ON {table} USING gin (qiantang_grams({c}))"
            )


def drop_index(conn: Connection, table: str) -> None:
    """Undo :func:`create_index` (a migration's downgrade)."""
    s = REGISTRY[table]
    if conn.dialect.name == "sqlite":
        for suffix in ("ai", "ad", "au"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {s.fts}_{suffix}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {s.terms}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {s.instances}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {s.fts}")
    elif conn.dialect.name == "postgresql":
        for c in s.columns:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {PREFIX}{table}_{c}_trgm")
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {PREFIX}{table}_{c}_grams")


def is_search_object(name: str | None, type_: str) -> bool:
    """True for the index objects made here, which the models do not describe (for Alembic's compare)."""
    if not name:
        return False
    if type_ == "table":
        return any(name.startswith(f"{s.fts}") for s in REGISTRY.values())
    return type_ == "index" and name.startswith(PREFIX)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's ``include_object``: leave out the search objects, which no model describes."""
    return not (reflected and compare_to is None and is_search_object(name, type_))


def _like_pattern(q: str) -> str:
    return f"%{q}%"


def _phrase(q: str) -> str:
    return '"' + q.replace('"', '""') + '"'


def _index_ids(s: Searchable, q: str, dialect: str = "sqlite"):
    """SQL (and its parameters) for the ids of the rows whose searchable columns contain ``q``
    (PostgreSQL: 1–2 characters through the character-pair index, longer ones through ``LIKE``, which
    the pg_trgm GIN indexes serve)."""
    if dialect == "postgresql" and len(q) >= 3:
        like = " OR ".join(f"{c} LIKE :fts_q ESCAPE '\\'" for c in s.columns)
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"SELECT id FROM {s.table} WHERE {like}", {"fts_q": _like_pattern(escaped)}
    if dialect == "postgresql":
        grams = " OR ".join(f"qiantang_grams({c}) @> ARRAY[CAST(:fts_q AS text)]" for c in s.columns)
        return f"SELECT id FROM {s.table} WHERE {grams}", {"fts_q": q}
    if len(q) >= 3:  # an FTS phrase of trigrams: exactly "contains q"
        return f"SELECT rowid AS id FROM {s.fts} WHERE {s.fts} MATCH :fts_q", {"fts_q": _phrase(q)}
    lo = q.lower()  # the index folds case like LIKE does for ASCII
    return (
        f"SELECT doc AS id FROM {s.instances} WHERE term >= :fts_lo AND term < :fts_hi",
        {"fts_lo": lo, "fts_hi": lo + "\U0010ffff"},
    )


def _limit(q: str) -> int:
    return INDEX_HITS_LIMIT if len(q) >= 3 else SHORT_INDEX_HITS_LIMIT


# The probe's answer for a query, kept a minute: a search is paged through and repeated by many users.
_hits: TTLCache = TTLCache(maxsize=4096, ttl=60)
_hits_lock = threading.Lock()


def clear_hits_cache() -> None:
    """Forget the cached probes (benchmarks; tests)."""
    with _hits_lock:
        _hits.clear()


def index_hits(session: Session, table: str, q: str, *, cap: int | None = None) -> int:
    """How many index entries match ``q``, counted up to ``cap`` + 1 (a cheap probe that stops)."""
    q = q.strip()
    cap = int(cap or _limit(q))
    key = (str(session.get_bind().engine.url), table, q, cap)
    with _hits_lock:
        hit = _hits.get(key)
    if hit is None:
        sql, params = _index_ids(REGISTRY[table], q, session.get_bind().dialect.name)
        probe = text(f"SELECT count(*) FROM ({sql} LIMIT {cap + 1}) AS hits")
        hit = int(session.execute(probe, params).scalar_one())
        with _hits_lock:
            _hits[key] = hit
    return hit


def matches(
    session: Session, table: str, id_column, q: str, *, also: tuple | None = None
) -> ColumnElement[bool]:
    """The clause "one of ``table``'s searchable columns contains ``q``" on ``id_column``'s table.

    ``also`` = (column, value) adds "or column = value" (e.g. the exact USCC), inside the index lookup
    so that the database still reads only the index's rows.
    """
    s = REGISTRY[table]
    q = q.strip()
    columns = [id_column.table.c[c] for c in s.columns]
    like = or_(*(c.contains(q, autoescape=True) for c in columns))  # "%" and "_" are plain characters
    if also is not None:
        like = or_(like, also[0] == also[1])
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        # A common q (say "有限公司", in nearly every name) would make the index return most of the
        # table; reading the table in id order finds a page of such rows at once and stops, so LIKE.
        if not q or index_hits(session, table, q) > _limit(q):
            return like
        sql, params = _index_ids(s, q)
        ids = text(sql).bindparams(**params).columns(id=Integer).subquery()
        sub = select(ids.c.id)
        if also is not None:
            sub = union(sub, select(id_column).where(also[0] == also[1]))
        return id_column.in_(sub)
    if dialect == "postgresql" and 0 < len(q) < 3:
        # pg_trgm cannot serve 1–2 characters; the character-pair index can, unless q is so common
        # (say "公") that reading the table in id order finds a page at once.
        if index_hits(session, table, q) > _limit(q):
            return like
        grams = [func.qiantang_grams(c).op("@>")(literal([q], ARRAY(Text))) for c in columns]
        return and_(or_(*grams), like)
    return like
