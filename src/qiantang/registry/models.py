"""Registry tables: areas (GB/T 2260), clusters of "一湾五镇多点", institution types and institutions."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qiantang.db import Base, JSONType, Money, utcnow
from qiantang.enums import str_enum


class Area(Base):
    """A county-level unit (区/县/县级市) of the city, current or historical, by GB/T 2260 code."""

    __tablename__ = "areas"
    __label_zh__ = "行政区划"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    parent_code: Mapped[str] = mapped_column(String(6))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    successor_codes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def is_current(self) -> bool:
        return self.valid_to is None


class ClusterGroup(StrEnum):
    """The layers of the plan's spatial layout "一湾五镇多点" (plan section 五)."""

    CORE = "core"  # 一核
    BELT = "belt"  # 两带
    TOWN = "town"  # 五镇
    ROAD = "road"  # 两路
    ZONE = "zone"  # 五区
    COUNTY = "county"  # 县域金融

    @property
    def zh(self) -> str:
        return {
            "core": "一核",
            "belt": "两带",
            "town": "五镇",
            "road": "两路",
            "zone": "五区",
            "county": "县域金融",
        }[self.value]


class Cluster(Base):
    """A financial cluster named in the plan, with its positioning (定位) in the plan's words."""

    __tablename__ = "clusters"
    __label_zh__ = "金融集聚区"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    group: Mapped[ClusterGroup] = mapped_column(str_enum(ClusterGroup, 16))
    positioning: Mapped[str] = mapped_column(Text)
    area_codes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    plan_section: Mapped[str] = mapped_column(String(32))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class InstitutionCategory(StrEnum):
    LICENSED = "licensed"  # 持牌金融机构, supervised by national regulators
    REGISTERED = "registered"  # 登记备案类 (private fund managers)
    LOCAL = "local"  # 地方金融组织, supervised by the local financial regulator

    @property
    def zh(self) -> str:
        return {"licensed": "持牌金融机构", "registered": "登记备案机构", "local": "地方金融组织"}[self.value]


class InstitutionType(Base):
    """A kind of financial institution and who supervises it."""

    __tablename__ = "institution_types"
    __label_zh__ = "机构类型"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    category: Mapped[InstitutionCategory] = mapped_column(str_enum(InstitutionCategory, 16))
    sector: Mapped[str] = mapped_column(String(32))
    sector_zh: Mapped[str] = mapped_column(String(32))
    supervisor_zh: Mapped[str] = mapped_column(String(128))
    supervisor_en: Mapped[str] = mapped_column(String(128))
    regulation_zh: Mapped[str] = mapped_column(Text, default="")
    # The periodic filing template this type files (None: files nothing with the city).
    filing_template: Mapped[str | None] = mapped_column(String(32))
    # Counted in the plan's "银证保金融机构" (banking, securities and insurance institutions).
    counts_as_bsi: Mapped[bool] = mapped_column(Boolean, default=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class InstitutionLevel(StrEnum):
    HQ = "hq"  # 法人总部
    REGIONAL_HQ = "regional_hq"  # 地区总部 / 功能性总部
    PROVINCIAL_BRANCH = "provincial_branch"  # 省级分支机构
    BRANCH = "branch"  # 分支机构 (市级分行/分公司及以下)

    @property
    def zh(self) -> str:
        return {
            "hq": "法人总部",
            "regional_hq": "地区总部",
            "provincial_branch": "省级分支机构",
            "branch": "分支机构",
        }[self.value]


class InstitutionStatus(StrEnum):
    ACTIVE = "active"  # 正常经营
    SUSPENDED = "suspended"  # 停业整顿
    RESOLVING = "resolving"  # 风险处置中
    DEREGISTERED = "deregistered"  # 注销 (exited)
    REVOKED = "revoked"  # 吊销/取消资质

    @property
    def zh(self) -> str:
        return {
            "active": "正常经营",
            "suspended": "停业整顿",
            "resolving": "风险处置中",
            "deregistered": "已注销",
            "revoked": "已吊销",
        }[self.value]

    @property
    def is_open(self) -> bool:
        return self in (InstitutionStatus.ACTIVE, InstitutionStatus.SUSPENDED, InstitutionStatus.RESOLVING)


class Institution(Base):
    """A financial institution in the city: a legal entity or a branch with its own licence."""

    __tablename__ = "institutions"
    __label_zh__ = "金融机构"
    __table_args__ = (
        Index("ix_institutions_type_district", "type_code", "district_code"),
        CheckConstraint("deregistered_on IS NULL OR deregistered_on >= established_on", name="dates_order"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    # A check-digit failure on an early pilot code is kept, with this warning shown to users.
    uscc_warning: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(128), index=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("institution_types.code"))
    level: Mapped[InstitutionLevel] = mapped_column(str_enum(InstitutionLevel, 24))
    parent_name: Mapped[str | None] = mapped_column(String(128))
    district_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), index=True)
    cluster_code: Mapped[str | None] = mapped_column(ForeignKey("clusters.code"), index=True)
    established_on: Mapped[date] = mapped_column(Date)
    deregistered_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[InstitutionStatus] = mapped_column(str_enum(InstitutionStatus, 16), index=True)
    registered_capital: Mapped[float | None] = mapped_column(Money)
    licence_no: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(200))
    # Private-fund managers etc. registered with the industry association rather than licensed.
    registration_no: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    type: Mapped[InstitutionType] = relationship(lazy="joined")
    district: Mapped[Area] = relationship(lazy="joined")
    cluster: Mapped[Cluster | None] = relationship(lazy="joined")
    status_history: Mapped[list[InstitutionStatusChange]] = relationship(
        back_populates="institution", order_by="InstitutionStatusChange.effective_on"
    )


class StatusEvent(StrEnum):
    ESTABLISHED = "established"  # 设立
    CHANGED = "changed"  # 变更
    SUSPENDED = "suspended"  # 停业整顿
    RESOLUTION = "resolution"  # 进入风险处置
    RESUMED = "resumed"  # 恢复正常经营
    DEREGISTERED = "deregistered"  # 注销
    REVOKED = "revoked"  # 吊销

    @property
    def zh(self) -> str:
        return {
            "established": "设立",
            "changed": "变更",
            "suspended": "停业整顿",
            "resolution": "风险处置",
            "resumed": "恢复经营",
            "deregistered": "注销",
            "revoked": "吊销",
        }[self.value]


class InstitutionStatusChange(Base):
    """One dated event in an institution's life (设立/变更/注销 …), with the status it leads to."""

    __tablename__ = "institution_status_changes"
    __label_zh__ = "机构状态变更"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"), index=True)
    effective_on: Mapped[date] = mapped_column(Date)
    event: Mapped[StatusEvent] = mapped_column(str_enum(StatusEvent, 16))
    status_after: Mapped[InstitutionStatus] = mapped_column(str_enum(InstitutionStatus, 16))
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    institution: Mapped[Institution] = relationship(back_populates="status_history")
