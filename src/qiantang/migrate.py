"""Alembic, configured from code so that the installed package carries its own migrations."""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from qiantang.config import get_settings


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("qiantang") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", (url or get_settings().database_url).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def make_revision(message: str, url: str | None = None) -> None:
    """Autogenerate a new migration from the difference between the models and the database.

    Revisions are numbered 0001, 0002, … so that their order is plain in the file names.
    """
    cfg = alembic_config(url)
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if Path(ruff).exists():  # format and sort the generated file like the rest of the code
        cfg.set_section_option("post_write_hooks", "hooks", "fix, format")
        for name, args in (("fix", "check --fix --quiet"), ("format", "format --quiet")):
            cfg.set_section_option("post_write_hooks", f"{name}.type", "exec")
            cfg.set_section_option("post_write_hooks", f"{name}.executable", ruff)
            cfg.set_section_option("post_write_hooks", f"{name}.options", f"{args} REVISION_SCRIPT_FILENAME")
    head = ScriptDirectory.from_config(cfg).get_current_head()
    rev_id = f"{int(head) + 1:04d}" if head and head.isdigit() else "0001"
    command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
