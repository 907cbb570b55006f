"""The dispute register: registering and closing disputes, the list, and the statistics a finance office
reports — time to close and success rate per body, per institution type and per district.

Definitions (also on the statistics page and in docs/methods/disputes.md):

* **closed**: a dispute with a closing date and an outcome; **open**: the others;
* **success rate**: closed disputes resolved for the complainant (调解成功 or 裁决/判决支持) ÷ closed disputes
  other than those the complainant withdrew (a withdrawal says nothing about the body);
* **days to close**: calendar days from received to closed, median and 90th percentile over closed ones;
* **recovered**: the amount paid or agreed to complainants.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qiantang.audit import service as audit
from qiantang.auth.scope import Scope
from qiantang.disputes.models import Channel, Dispute, Outcome, ProductType
from qiantang.errors import NotFound, RowError, ValidationFailed
from qiantang.registry.models import Area, Institution, InstitutionType


@dataclass(frozen=True)
class Body:
    code: str
    name_zh: str
    name_en: str
    channel: Channel
    source: str


@cache
def bodies() -> dict[str, Body]:
    """The mediating, arbitrating and judging bodies (disputes/data/bodies.toml), by code."""
    text = (resources.files("qiantang.disputes") / "data" / "bodies.toml").read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    return {
        b["code"]: Body(b["code"], b["name_zh"], b["name_en"], Channel(b["channel"]), b["source"])
        for b in doc["bodies"]
    }


def bodies_version() -> str:
    text = (resources.files("qiantang.disputes") / "data" / "bodies.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["version"]


# -------------------------------------------------------------------------------------- writing
@dataclass
class DisputeIn:
    """A dispute as a form, the API or one row of an import gives it (amounts in 元)."""

    ref_no: str
    complainant: str
    product_type: ProductType
    amount: float
    channel: Channel
    body_code: str
    received_on: date
    institution_id: int | None = None
    respondent_name: str = ""
    district_code: str | None = None
    complainant_is_firm: bool = False
    accepted_on: date | None = None
    closed_on: date | None = None
    outcome: Outcome | None = None
    recovered: float | None = None
    summary: str = ""


def check(session: Session, data: DisputeIn, *, today: date, row: int = 0) -> list[RowError]:
    """Every problem of one dispute, in Chinese, by field (``row`` numbers an import's rows)."""
    errors: list[RowError] = []

    def bad(column: str, message: str) -> None:
        errors.append(RowError(row, column, message))

    if not data.ref_no.strip():
        bad("案号", "必填")
    if not data.complainant.strip():
        bad("申请人", "必填")
    if data.amount is None or data.amount < 0:
        bad("争议金额", "不能为负数")
    body = bodies().get(data.body_code)
    if body is None:
        bad("调解/仲裁机构", f"未登记的机构“{data.body_code}”")
    elif body.channel != data.channel:
        bad("调解/仲裁机构", f"{body.name_zh}办理的是{body.channel.zh}，与所填渠道“{data.channel.zh}”不符")
    if data.institution_id is None and not data.respondent_name.strip():
        bad("被申请机构", "须填写持牌机构，或无牌照时填写被申请企业名称")
    if data.institution_id is not None and session.get(Institution, data.institution_id) is None:
        bad("被申请机构", f"机构 {data.institution_id} 不存在")
    if data.institution_id is None and not data.district_code:
        bad("区县", "被申请方不是登记机构时须填写区县")
    if data.district_code and session.get(Area, data.district_code) is None:
        bad("区县", f"未知的区县代码 {data.district_code}")
    for name, day in (
        ("收到日期", data.received_on),
        ("受理日期", data.accepted_on),
        ("结案日期", data.closed_on),
    ):
        if day is not None and day > today:
            bad(name, f"{day.isoformat()} 晚于今天")
    if data.accepted_on and data.accepted_on < data.received_on:
        bad("受理日期", "早于收到日期")
    if data.closed_on and data.closed_on < (data.accepted_on or data.received_on):
        bad("结案日期", "早于收到或受理日期")
    if (data.closed_on is None) != (data.outcome is None):
        bad("结果", "结案须同时填写结案日期和结果")
    if data.recovered is not None:
        if data.recovered < 0:
            bad("挽回金额", "不能为负数")
        elif data.amount is not None and data.recovered > data.amount:
            bad("挽回金额", "不能超过争议金额")
        if data.closed_on is None:
            bad("挽回金额", "结案后才填写挽回金额")
    return [e for e in errors if e.message]


def register(
    session: Session, data: DisputeIn, *, actor, scope: Scope | None = None, today: date | None = None
) -> Dispute:
    """Add one dispute (checked first); the institution's district is the dispute's district. A
    district officer records only disputes about its own district."""
    today = today or date.today()
    errors = check(session, data, today=today)
    if scope is not None and not errors:
        district = _district_of(session, data)
        if not scope.is_citywide and district != scope.district_code:
            errors.append(RowError(0, "被申请机构", "只能登记本区县的纠纷"))
    if session.scalar(select(Dispute.id).where(Dispute.ref_no == data.ref_no.strip())):
        errors.append(RowError(0, "案号", f"案号 {data.ref_no} 已登记"))
    if errors:
        raise ValidationFailed("纠纷登记有误，未保存", errors=errors)
    dispute = _build(session, data)
    dispute.created_by = getattr(actor, "username", None)
    session.add(dispute)
    session.flush()
    audit.record(
        session,
        action="dispute.register",
        user=actor,
        object_type="dispute",
        object_id=dispute.id,
        detail={"ref_no": dispute.ref_no, "channel": dispute.channel.value},
    )
    return dispute


def _district_of(session: Session, data: DisputeIn) -> str | None:
    inst = session.get(Institution, data.institution_id) if data.institution_id else None
    return inst.district_code if inst else data.district_code


def _build(session: Session, data: DisputeIn) -> Dispute:
    inst = session.get(Institution, data.institution_id) if data.institution_id else None
    return Dispute(
        ref_no=data.ref_no.strip(),
        complainant=data.complainant.strip(),
        complainant_is_firm=data.complainant_is_firm,
        institution_id=inst.id if inst else None,
        respondent_name=inst.name if inst else data.respondent_name.strip(),
        district_code=inst.district_code if inst else data.district_code,
        product_type=data.product_type,
        amount=data.amount,
        channel=data.channel,
        body_code=data.body_code,
        received_on=data.received_on,
        accepted_on=data.accepted_on,
        closed_on=data.closed_on,
        outcome=data.outcome,
        recovered=data.recovered,
        summary=data.summary.strip(),
    )


def close(
    session: Session,
    dispute: Dispute,
    *,
    closed_on: date,
    outcome: Outcome,
    recovered: float | None,
    actor,
    today: date | None = None,
) -> Dispute:
    """Record how an open dispute ended."""
    today = today or date.today()
    if not dispute.is_open:
        raise ValidationFailed("该纠纷已结案", errors=[RowError(0, "结果", "已结案的纠纷不能再次结案")])
    data = DisputeIn(
        ref_no=dispute.ref_no,
        complainant=dispute.complainant,
        product_type=dispute.product_type,
        amount=dispute.amount,
        channel=dispute.channel,
        body_code=dispute.body_code,
        received_on=dispute.received_on,
        institution_id=dispute.institution_id,
        respondent_name=dispute.respondent_name,
        district_code=dispute.district_code,
        accepted_on=dispute.accepted_on,
        closed_on=closed_on,
        outcome=outcome,
        recovered=recovered,
    )
    errors = check(session, data, today=today)
    if errors:
        raise ValidationFailed("结案信息有误", errors=errors)
    dispute.closed_on, dispute.outcome, dispute.recovered = closed_on, outcome, recovered
    audit.record(
        session,
        action="dispute.close",
        user=actor,
        object_type="dispute",
        object_id=dispute.id,
        detail={"outcome": outcome.value, "closed_on": closed_on.isoformat()},
    )
    return dispute


# -------------------------------------------------------------------------------------- reading
@dataclass
class DisputeFilters:
    q: str | None = None
    channel: Channel | None = None
    body_code: str | None = None
    product_type: ProductType | None = None
    outcome: Outcome | None = None
    status: str | None = None  # "open" | "closed" | None
    district_code: str | None = None
    received_from: date | None = None
    received_to: date | None = None


def _visible(stmt, scope: Scope):
    """City staff see every dispute; a district officer its district's; a reporter its institution's."""
    return stmt.where(scope.institution_clause(Dispute.institution_id, Dispute.district_code))


def _filtered(stmt, f: DisputeFilters):
    if f.q:
        like = f"%{f.q.strip()}%"
        stmt = stmt.where(Dispute.ref_no.like(like) | Dispute.respondent_name.like(like))
    if f.channel is not None:
        stmt = stmt.where(Dispute.channel == f.channel)
    if f.body_code:
        stmt = stmt.where(Dispute.body_code == f.body_code)
    if f.product_type is not None:
        stmt = stmt.where(Dispute.product_type == f.product_type)
    if f.outcome is not None:
        stmt = stmt.where(Dispute.outcome == f.outcome)
    if f.status == "open":
        stmt = stmt.where(Dispute.closed_on.is_(None))
    elif f.status == "closed":
        stmt = stmt.where(Dispute.closed_on.is_not(None))
    if f.district_code:
        stmt = stmt.where(Dispute.district_code == f.district_code)
    if f.received_from:
        stmt = stmt.where(Dispute.received_on >= f.received_from)
    if f.received_to:
        stmt = stmt.where(Dispute.received_on <= f.received_to)
    return stmt


def list_disputes(
    session: Session, *, scope: Scope, filters: DisputeFilters, offset: int = 0, limit: int | None = 50
) -> tuple[list[Dispute], int]:
    stmt = _filtered(_visible(select(Dispute), scope), filters)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = stmt.order_by(Dispute.received_on.desc(), Dispute.id.desc()).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt).unique().all()), total


def get_dispute(session: Session, *, scope: Scope, dispute_id: int) -> Dispute:
    dispute = session.get(Dispute, dispute_id)
    if dispute is None:
        raise NotFound("没有这条纠纷记录", message_en="No such dispute")
    if dispute.institution_id is not None:
        scope.check_institution(dispute.institution_id, dispute.district_code)
    else:
        scope.check_district(dispute.district_code, what="纠纷")
    return dispute


# ----------------------------------------------------------------------------------- statistics
@dataclass
class Group:
    """The figures of one body, institution type or district."""

    key: str
    received: int = 0
    closed: int = 0
    open: int = 0
    resolved: int = 0
    withdrawn: int = 0
    amount: float = 0.0
    recovered: float = 0.0
    median_days: float | None = None
    p90_days: float | None = None
    days: list[int] = field(default_factory=list, repr=False)

    @property
    def success_rate(self) -> float | None:
        judged = self.closed - self.withdrawn
        return self.resolved / judged if judged else None


def _groups(rows: Iterable[tuple[str, Dispute]]) -> list[Group]:
    out: dict[str, Group] = {}
    for key, d in rows:
        g = out.setdefault(key, Group(key))
        g.received += 1
        g.amount += float(d.amount or 0)
        if d.closed_on is None:
            g.open += 1
            continue
        g.closed += 1
        g.days.append(d.days_to_close)
        g.recovered += float(d.recovered or 0)
        if d.outcome == Outcome.WITHDRAWN:
            g.withdrawn += 1
        elif Outcome(d.outcome).resolved:
            g.resolved += 1
    for g in out.values():
        if g.days:
            g.median_days = float(np.median(g.days))
            g.p90_days = float(np.percentile(g.days, 90))
    return sorted(out.values(), key=lambda g: (-g.received, g.key))


@dataclass
class Stats:
    total: Group
    by_body: list[Group]
    by_type: list[Group]
    by_district: list[Group]
    by_channel: list[Group]


def statistics(session: Session, *, scope: Scope, filters: DisputeFilters) -> Stats:
    """The register's figures within the user's scope and the filters (keys: body code, type code,
    district code, channel; pages show names)."""
    stmt = _filtered(_visible(select(Dispute, Institution.type_code), scope), filters)
    rows = session.execute(stmt.outerjoin(Institution, Institution.id == Dispute.institution_id)).all()
    disputes = [(d, t) for d, t in rows]
    return Stats(
        total=(_groups(("all", d) for d, _ in disputes) or [Group("all")])[0],
        by_body=_groups((d.body_code, d) for d, _ in disputes),
        by_type=_groups((t or "unlicensed", d) for d, t in disputes),
        by_district=_groups((d.district_code, d) for d, _ in disputes),
        by_channel=_groups((d.channel.value, d) for d, _ in disputes),
    )


def counts_by_institution(
    session: Session, *, institution_ids: Iterable[int] | None = None, start: date, end: date
) -> dict[int, int]:
    """Disputes received about each institution between ``start`` and ``end`` (both included)."""
    stmt = (
        select(Dispute.institution_id, func.count())
        .where(Dispute.institution_id.is_not(None), Dispute.received_on.between(start, end))
        .group_by(Dispute.institution_id)
    )
    if institution_ids is not None:
        stmt = stmt.where(Dispute.institution_id.in_(list(institution_ids)))
    return {i: n for i, n in session.execute(stmt).all()}


def unlicensed_complaints(session: Session, *, start: date, end: date) -> dict[str, int]:
    """Disputes received about respondents without a licence, by name: the fundraising module's
    complaint signal reads this."""
    stmt = (
        select(Dispute.respondent_name, func.count())
        .where(Dispute.institution_id.is_(None), Dispute.received_on.between(start, end))
        .group_by(Dispute.respondent_name)
    )
    return {name: n for name, n in session.execute(stmt).all()}


def names(session: Session, *, zh: bool) -> dict[str, Any]:
    """Display names for the statistics' keys."""
    areas = {a.code: (a.name_zh if zh else a.name_en) for a in session.scalars(select(Area))}
    types = {t.code: (t.name_zh if zh else t.name_en) for t in session.scalars(select(InstitutionType))} | {
        "unlicensed": "无牌照企业" if zh else "Unlicensed firms"
    }
    body_names = {b.code: (b.name_zh if zh else b.name_en) for b in bodies().values()}
    channels = {c.value: (c.zh if zh else c.en) for c in Channel}
    return {"areas": areas, "types": types, "bodies": body_names, "channels": channels}
