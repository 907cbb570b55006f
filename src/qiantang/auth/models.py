"""Users, roles, login sessions, login attempts and API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qiantang.audit import service as audit
from qiantang.db import Base, utcnow
from qiantang.enums import str_enum


class Role(StrEnum):
    CITY_ADMIN = "city_admin"  # 市级管理员
    CITY_ANALYST = "city_analyst"  # 市级分析员
    DISTRICT_OFFICER = "district_officer"  # 区县金融办工作人员 (own district only)
    INSTITUTION_REPORTER = "institution_reporter"  # 机构填报员 (own institution only)
    AUDITOR = "auditor"  # 审计员 (read-only plus the audit log)
    LENDER = "lender"  # 贷款机构用户 (own institution's products and the needs offered to it)
    FIRM = "firm"  # 企业用户 (own financing needs only)

    @property
    def zh(self) -> str:
        return {
            "city_admin": "市级管理员",
            "city_analyst": "市级分析员",
            "district_officer": "区县工作人员",
            "institution_reporter": "机构填报员",
            "auditor": "审计员",
            "lender": "贷款机构用户",
            "firm": "企业用户",
        }[self.value]

    @property
    def en(self) -> str:
        return {
            "city_admin": "City administrator",
            "city_analyst": "City analyst",
            "district_officer": "District officer",
            "institution_reporter": "Institution reporter",
            "auditor": "Auditor",
            "lender": "Lender",
            "firm": "Firm",
        }[self.value]


class User(Base):
    __tablename__ = "users"
    __label_zh__ = "用户"
    __table_args__ = (
        CheckConstraint(
            "role <> 'district_officer' OR district_code IS NOT NULL", name="district_officer_has_district"
        ),
        CheckConstraint(
            "role <> 'institution_reporter' OR institution_id IS NOT NULL",
            name="reporter_has_institution",
        ),
        CheckConstraint("role <> 'lender' OR institution_id IS NOT NULL", name="lender_has_institution"),
        CheckConstraint("role <> 'firm' OR enterprise_id IS NOT NULL", name="firm_has_enterprise"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, 32))
    district_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))  # a firm user's own
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set by an administrator's password reset: the temporary password must be replaced at next login.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Where notifications by e-mail go (set by the user on "my notifications"); None: no e-mail.
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)


class UserSession(Base):
    """A browser login. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))

    user: Mapped[User] = relationship(lazy="joined")


class LoginAttempt(Base):
    """Every login attempt, kept for rate limiting and the audit trail."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean)


class ApiToken(Base):
    """A bearer token for machine clients of the JSON API (e.g. an institution's reporting system)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship(lazy="joined")


# The audit log names these codes in event details.
audit.register_detail_values(Role, "role")
