"""Settings from the environment (prefix ``QIANTANG_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator may change without touching code."""

    model_config = SettingsConfigDict(env_prefix="QIANTANG_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/qiantang.db",
        description="SQLAlchemy URL; PostgreSQL in production, e.g. postgresql+psycopg://user:pw@host/db",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    # Cookies carry the Secure flag when the request came over HTTPS; "always" forces it
    # (behind a TLS-terminating proxy that does not forward the scheme).
    secure_cookies: str = Field(default="auto", pattern="^(auto|always|never)$")
    session_hours: float = 8.0
    session_idle_minutes: float = 60.0
    login_max_failures: int = 5
    login_window_minutes: int = 15
    login_max_failures_per_ip: int = 30
    # Lifetime of a new API token in days (QIANTANG_TOKEN_DAYS).
    token_days: int = Field(default=90, ge=1, le=3650)
    default_locale: str = "zh_CN"
    # Which city the platform serves (GB/T 2260 prefecture code).
    city_code: str = "330100"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        path = self.database_url.split("///", 1)[1]
        return None if path in ("", ":memory:") else Path(path)


@lru_cache
def get_settings() -> Settings:
    return Settings()
