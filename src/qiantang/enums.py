"""Small shared enumerations stored as strings (portable across SQLite and PostgreSQL)."""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa


def str_enum(enum_cls: type[StrEnum], length: int = 32) -> sa.Enum:
    """A VARCHAR column with a CHECK constraint listing the enum's values."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        name=enum_cls.__name__.lower(),
    )
