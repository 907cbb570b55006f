"""Panels that other domains contribute to the firm's profile (一企一档).

A base domain must not import the analytics built on it, so the profile page asks this registry instead:
an analytics package registers a function when its views are loaded; the page calls each one and includes
the template it names. A panel function returns None when it has nothing to show to that user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Panel:
    template: str  # a Jinja template name, included with ``panel`` = this object in its context
    context: dict[str, Any] = field(default_factory=dict)


PanelFn = Callable[..., Panel | None]  # (session, *, enterprise, scope) -> Panel | None
_PANELS: dict[str, PanelFn] = {}


def register(name: str, fn: PanelFn) -> None:
    """Register (or replace) the panel ``name``."""
    _PANELS[name] = fn


def gather(session, *, enterprise, scope) -> list[Panel]:
    """Every registered panel with something to show, in registration order."""
    out = []
    for fn in _PANELS.values():
        panel = fn(session, enterprise=enterprise, scope=scope)
        if panel is not None:
            out.append(panel)
    return out
