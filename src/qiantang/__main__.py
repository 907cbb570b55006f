"""``python -m qiantang``: the same command line as ``qiantang`` (the server starts its worker this way)."""

from qiantang.cli import app

app()
