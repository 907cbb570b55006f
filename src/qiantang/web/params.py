"""Query parameters as filter forms send them.

A filter form's "全部" option and an untouched date or number field submit an empty value
(``?level=&since=``). FastAPI would validate ``""`` against the enum, date or integer and answer
422, so every form would fail on its own defaults. ``Blank[T]`` reads an empty (or all-blank)
value as "not given"; anything else is still validated, so a wrong value keeps its clear error.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator

T = TypeVar("T")


def blank_to_none(value: Any) -> Any:
    """``None`` for an empty or all-blank string, the value itself otherwise."""
    return None if isinstance(value, str) and not value.strip() else value


Blank = Annotated[T | None, BeforeValidator(blank_to_none)]


async def text_fields(request) -> dict[str, str]:
    """A posted form's text fields (uploaded files left out), for the action forms of cases and tips."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}
