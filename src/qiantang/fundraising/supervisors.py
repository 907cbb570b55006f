"""The sector's supervisor (行业主管部门) of a watched firm, by the class the index gives it
(``data/supervisors.toml``): routing copies it on the fundraising cases it opens (抄送行业主管部门)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from qiantang.fundraising.keywords import normalise


@dataclass(frozen=True)
class Supervisor:
    category: str
    code: str
    zh: str
    en: str
    basis: str
    words: tuple[str, ...] = ()

    def applies(self, text: str) -> bool:
        return not self.words or any(w in text for w in self.words)


@dataclass(frozen=True)
class SupervisorTable:
    version: str
    entries: tuple[Supervisor, ...]

    def for_firm(self, category: str | None, text: str = "") -> Supervisor | None:
        """The first entry of ``category`` that applies to the firm's name and scope (``text``)."""
        t = normalise(text or "")
        for s in self.entries:
            if s.category == (category or "") and s.applies(t):
                return s
        return None

    def name(self, code: str | None, *, zh: bool) -> str | None:
        """A supervisor's name by its code (English when ``zh`` is false), or None if unknown."""
        for s in self.entries:
            if s.code == code:
                return s.zh if zh else s.en
        return None


def load_supervisors(text: str) -> SupervisorTable:
    raw = tomllib.loads(text)
    entries = []
    for r in raw["supervisors"]:
        missing = {"category", "code", "zh", "en", "basis"} - set(r)
        if missing:
            raise ValueError(f"supervisor entry {r!r} lacks {sorted(missing)}")
        entries.append(
            Supervisor(
                category=r["category"],
                code=r["code"],
                zh=r["zh"],
                en=r["en"],
                basis=r["basis"],
                words=tuple(normalise(w) for w in r.get("words", [])),
            )
        )
    return SupervisorTable(raw["version"], tuple(entries))


@cache
def supervisors() -> SupervisorTable:
    text = (resources.files("qiantang.fundraising") / "data" / "supervisors.toml").read_text(encoding="utf-8")
    return load_supervisors(text)
