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
    # Logins (docs/security.md): after ``login_free_failures`` wrong passwords in a row an account
    # waits ``login_delay_seconds``, doubling with each further failure up to ``login_delay_max_seconds``
    # (a delay, never a lockout, so nobody can lock another person out); an address is refused after
    # ``login_max_failures_per_ip`` failures within ``login_window_minutes``.
    login_free_failures: int = 3
    login_delay_seconds: float = 2.0
    login_delay_max_seconds: float = 60.0
    login_window_minutes: int = 15
    login_max_failures_per_ip: int = 30
    # Lifetime of a new API token in days (QIANTANG_TOKEN_DAYS).
    token_days: int = Field(default=90, ge=1, le=3650)
    # Addresses (IPs or CIDR networks, comma-separated) of reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed. Empty: the headers are ignored and the peer address is the client.
    trusted_proxies: str = ""
    # Uploads (every table goes through qiantang.uploads): bytes of the file, and of an .xlsx unpacked;
    # data rows, columns and cells of a sheet. A file over a cap is refused before it is read whole.
    upload_max_mb: float = 20.0
    upload_max_unzipped_mb: float = 200.0
    upload_max_rows: int = 200_000
    upload_max_columns: int = 300
    upload_max_cells: int = 3_000_000
    # Concurrency: threads that run request handlers, database connections per server process (keep
    # db_pool_size + db_max_overflow above web_threads, with room for async routes that hold a connection
    # between threads, so a request never waits for a connection held by one waiting for a thread),
    # seconds a SQLite writer waits for the write lock.
    web_threads: int = 40
    db_pool_size: int = 10
    db_max_overflow: int = 50
    db_pool_timeout: float = 30.0
    sqlite_busy_timeout_seconds: float = 30.0
    # How often pages re-read whether the database holds the demo city.
    demo_flag_ttl_seconds: float = 30.0
    default_locale: str = "zh_CN"
    # Which city the platform serves (GB/T 2260 prefecture code).
    city_code: str = "330100"
    # The city's time zone: schedules fire and times show in it.
    timezone: str = "Asia/Shanghai"
    # The address users reach the platform at; links in e-mails and webhook messages start with it.
    base_url: str = ""

    # Background jobs (qiantang.jobs). The queue lives beside the database: a SQLite file next to
    # the SQLite database, or a schema of its own in the PostgreSQL database; jobs_queue_url overrides.
    jobs_queue_url: str = ""
    job_worker_threads: int = 2
    # A running job whose worker stopped sending heartbeats this long ago is retried once, then failed.
    job_stale_seconds: float = 60.0
    # Run scheduled jobs (data/schedules.toml) in the worker.
    job_schedules: bool = True

    # Notifications: e-mail over SMTP (QIANTANG_SMTP_HOST empty = no e-mail) and group-robot webhooks.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "qiantang@localhost"
    smtp_security: str = Field(default="none", pattern="^(none|starttls|ssl)$")
    # Comma-separated DingTalk / WeCom group-robot URLs; the format is chosen by the URL's host
    # (oapi.dingtalk.com → DingTalk, qyapi.weixin.qq.com → WeCom) unless webhook_format says.
    webhook_urls: str = ""
    webhook_format: str = Field(default="auto", pattern="^(auto|dingtalk|wecom)$")

    def public_url(self, path: str = "") -> str:
        """An absolute link to ``path`` on this platform (for e-mails and webhooks)."""
        base = self.base_url.rstrip("/") or f"http://{self.host}:{self.port}"
        return base + path

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
