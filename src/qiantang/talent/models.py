"""The certification register of high-end finance talent (高层次金融人才认定).

Personal data is minimised: the applicant's name, ID number and mobile are what the review needs,
and pages, the API and exports show them through :mod:`qiantang.masking` (the ID number is never
shown in full). Evidence is kept as file metadata (name, size, what it proves), not the file.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qiantang.db import Base, JSONType, utcnow
from qiantang.enums import str_enum


class CertStatus(StrEnum):
    APPLIED = "applied"  # 申请
    REVIEWING = "reviewing"  # 审核中
    CERTIFIED = "certified"  # 已认定
    REFUSED = "refused"  # 不予认定
    RE_REVIEW = "re_review"  # 到期复审
    LAPSED = "lapsed"  # 失效

    @property
    def zh(self) -> str:
        return _LABELS[self][0]

    @property
    def en(self) -> str:
        return _LABELS[self][1]


_LABELS = {
    CertStatus.APPLIED: ("申请", "Applied"),
    CertStatus.REVIEWING: ("审核中", "Under review"),
    CertStatus.CERTIFIED: ("已认定", "Certified"),
    CertStatus.REFUSED: ("不予认定", "Refused"),
    CertStatus.RE_REVIEW: ("到期复审", "Due for re-review"),
    CertStatus.LAPSED: ("失效", "Lapsed"),
}


class TalentCertification(Base):
    """One application for certification and, once decided, the certification with its validity."""

    __tablename__ = "talent_certifications"
    __label_zh__ = "金融人才认定"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"), index=True)
    district_code: Mapped[str] = mapped_column(String(12), index=True)
    applicant_name: Mapped[str] = mapped_column(String(64))
    id_number: Mapped[str] = mapped_column(String(32))
    mobile: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(16))  # a level code of data/standards.toml
    standard_version: Mapped[str] = mapped_column(String(16))
    criterion: Mapped[int] = mapped_column(Integer)  # index of the criterion claimed in that level
    evidence: Mapped[list] = mapped_column(JSONType, default=list)  # [{name, size, note}]
    status: Mapped[CertStatus] = mapped_column(str_enum(CertStatus, 16), index=True)
    applied_on: Mapped[date] = mapped_column(Date)
    decided_on: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, index=True)
    renewals: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
