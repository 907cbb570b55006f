"""Finance talent: statistics from the annual talent returns and the certification register.

Statistics read the current revision of each institution's latest annual ``finance_talent`` return
(filed through the filings module) and group the headcounts by 口径 — national supervision (一行三局:
the institution type's category is licensed or registered) or local supervision — by institution
type, district and cluster. Certification follows 申请 → 审核中 → 已认定 / 不予认定 → 到期复审 →
续期 (已认定 again) / 失效; every step is audited. Definitions: docs/methods/talent.md.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qiantang.audit import service as audit
from qiantang.auth.models import Role, User
from qiantang.auth.permissions import Permission, has_permission
from qiantang.auth.scope import Scope
from qiantang.errors import Conflict, Forbidden, NotFound, RowError, ValidationFailed
from qiantang.filings.models import AnnualFiling
from qiantang.registry.models import Area, Cluster, Institution, InstitutionCategory, InstitutionType
from qiantang.talent.models import CertStatus, TalentCertification

TEMPLATE = "finance_talent"
NATIONAL, LOCAL = "national", "local"
BASIS_LABELS = {
    NATIONAL: ("一行三局监管机构", "Nationally supervised"),
    LOCAL: ("地方监管机构", "Locally supervised"),
}
COUNT_FIELDS = (
    "total_staff",
    "management_staff",
    "professional_staff",
    "technical_staff",
    "qual_cfa",
    "qual_cfp",
    "qual_frm",
    "qual_cpa",
    "qual_legal",
    "qual_sponsor",
    "qual_industry",
    "edu_doctorate",
    "edu_master",
    "edu_bachelor",
    "edu_other",
    "age_under_30",
    "age_30_39",
    "age_40_49",
    "age_50_plus",
)


# --------------------------------------------------------------------------------------------------
# Standards (data/standards.toml)


@dataclass(frozen=True)
class Level:
    code: str
    name_zh: str
    name_en: str
    criteria_zh: tuple[str, ...]
    criteria_en: tuple[str, ...]


@dataclass(frozen=True)
class Standard:
    version: str
    effective_from: date
    validity_years: int
    levels: tuple[Level, ...]

    def level(self, code: str) -> Level | None:
        return next((lv for lv in self.levels if lv.code == code), None)


@cache
def standards() -> tuple[str, tuple[Standard, ...]]:
    """(source, versions oldest first) of the certification standard."""
    raw = tomllib.loads((resources.files("qiantang.talent") / "data" / "standards.toml").read_text("utf-8"))
    versions = tuple(
        Standard(
            version=v["version"],
            effective_from=date.fromisoformat(v["effective_from"]),
            validity_years=int(v["validity_years"]),
            levels=tuple(
                Level(
                    lv["code"],
                    lv["name_zh"],
                    lv["name_en"],
                    tuple(lv["criteria_zh"]),
                    tuple(lv["criteria_en"]),
                )
                for lv in v["levels"]
            ),
        )
        for v in raw["versions"]
    )
    return raw["source"], tuple(sorted(versions, key=lambda s: s.effective_from))


def standard_for(day: date) -> Standard:
    """The version in force on ``day`` (the earliest one before any took effect)."""
    versions = standards()[1]
    current = versions[0]
    for v in versions:
        if v.effective_from <= day:
            current = v
    return current


def standard_version(version: str) -> Standard:
    for v in standards()[1]:
        if v.version == version:
            return v
    raise NotFound(f"没有版本为 {version} 的认定标准", message_en=f"No standard version {version}")


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --------------------------------------------------------------------------------------------------
# Statistics from the annual returns


@dataclass
class Group:
    key: str
    name_zh: str
    name_en: str
    institutions: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_FIELDS, 0))

    def add(self, data: Mapping[str, Any]) -> None:
        self.institutions += 1
        for code in COUNT_FIELDS:
            self.counts[code] += int(data.get(code) or 0)


@dataclass
class TalentStats:
    year: int | None
    by: str
    groups: list[Group]
    total: Group
    years: list[int]


GROUPINGS = ("basis", "type", "district", "cluster")


def return_years(session: Session) -> list[int]:
    """Years with talent returns, newest first."""
    days = session.scalars(
        select(AnnualFiling.period_end).where(AnnualFiling.template_code == TEMPLATE).distinct()
    ).all()
    return sorted({d.year for d in days}, reverse=True)


def statistics(
    session: Session,
    *,
    scope: Scope,
    year: int | None = None,
    by: str = "basis",
    basis: str | None = None,
    district_code: str | None = None,
) -> TalentStats:
    """Headcounts of the year's current talent returns grouped by 口径, type, district or cluster."""
    if by not in GROUPINGS:
        by = "basis"
    years = return_years(session)
    if year is None:
        year = years[0] if years else None
    total = Group("total", "合计", "Total")
    if year is None:
        return TalentStats(None, by, [], total, years)
    stmt = (
        select(
            AnnualFiling.data,
            InstitutionType.category,
            InstitutionType.code,
            InstitutionType.name_zh,
            InstitutionType.name_en,
            Institution.district_code,
            Area.name_zh,
            Area.name_en,
            Cluster.code,
            Cluster.name_zh,
            Cluster.name_en,
        )
        .join(Institution, Institution.id == AnnualFiling.institution_id)
        .join(InstitutionType, InstitutionType.code == Institution.type_code)
        .join(Area, Area.code == Institution.district_code)
        .outerjoin(Cluster, Cluster.code == Institution.cluster_code)
        .where(
            AnnualFiling.template_code == TEMPLATE,
            AnnualFiling.period_end == date(year, 12, 31),
            AnnualFiling.is_current.is_(True),
            scope.institution_clause(Institution.id, Institution.district_code),
        )
    )
    if district_code:
        stmt = stmt.where(Institution.district_code == district_code)
    groups: dict[str, Group] = {}
    for data, category, tcode, tzh, ten, dcode, dzh, den, ccode, czh, cen in session.execute(stmt):
        kind = LOCAL if category == InstitutionCategory.LOCAL else NATIONAL
        if basis and kind != basis:
            continue
        if by == "basis":
            key, zh, en = kind, *BASIS_LABELS[kind]
        elif by == "type":
            key, zh, en = tcode, tzh, ten
        elif by == "district":
            key, zh, en = dcode, dzh, den
        else:
            key, zh, en = (ccode, czh, cen) if ccode else ("none", "不在集聚区", "Outside the clusters")
        groups.setdefault(key, Group(key, zh, en)).add(data)
        total.add(data)
    ordered = sorted(groups.values(), key=lambda g: -g.counts["total_staff"])
    return TalentStats(year, by, ordered, total, years)


# --------------------------------------------------------------------------------------------------
# Certification register


@dataclass(frozen=True)
class CertFilters:
    status: CertStatus | None = None
    level: str | None = None
    district_code: str | None = None
    q: str | None = None


def _visible(stmt, scope: Scope):
    return stmt.join(Institution, Institution.id == TalentCertification.institution_id).where(
        scope.institution_clause(Institution.id, TalentCertification.district_code)
    )


def list_certifications(
    session: Session, *, scope: Scope, filters: CertFilters, offset: int = 0, limit: int | None = 50
) -> tuple[list[TalentCertification], int]:
    stmt = _visible(select(TalentCertification), scope)
    if filters.status is not None:
        stmt = stmt.where(TalentCertification.status == filters.status)
    if filters.level:
        stmt = stmt.where(TalentCertification.level == filters.level)
    if filters.district_code:
        stmt = stmt.where(TalentCertification.district_code == filters.district_code)
    if filters.q:
        stmt = stmt.where(Institution.name.like(f"%{filters.q.strip()}%"))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = stmt.order_by(TalentCertification.applied_on.desc(), TalentCertification.id.desc()).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt).all()), total


def get_certification(session: Session, *, scope: Scope, cert_id: int) -> TalentCertification:
    cert = session.get(TalentCertification, cert_id)
    if cert is None:
        raise NotFound("没有这条认定记录", message_en="No such certification record")
    scope.check_institution(cert.institution_id, cert.district_code)
    return cert


def _id_number_ok(value: str) -> bool:
    """18-character resident ID with a valid GB 11643-1999 check character."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(value[:17], weights, strict=True))
    return "10X98765432"[total % 11] == value[17].upper()


def apply(
    session: Session,
    *,
    scope: Scope,
    actor: Any,
    institution_id: int | None,
    applicant_name: str,
    id_number: str,
    mobile: str,
    level: str,
    criterion: int,
    evidence: Sequence[Mapping[str, Any]] = (),
    today: date,
    synthetic: bool = False,
) -> TalentCertification:
    """File an application; every problem is reported at once in Chinese."""
    errors: list[RowError] = []
    inst = session.get(Institution, institution_id) if institution_id else None
    if inst is None:
        errors.append(RowError(None, "所在机构", "请选择申请人所在的机构"))
    else:
        scope.check_institution(inst.id, inst.district_code)
    name = (applicant_name or "").strip()
    if not name or len(name) > 64:
        errors.append(RowError(None, "申请人姓名", "请填写申请人姓名（不超过 64 个字）"))
    idn = (id_number or "").strip().upper()
    if not _id_number_ok(idn):
        errors.append(RowError(None, "身份证号码", "身份证号码应为 18 位且校验位正确"))
    phone = (mobile or "").strip()
    if not (len(phone) == 11 and phone.isdigit() and phone.startswith("1")):
        errors.append(RowError(None, "手机号码", "手机号码应为 11 位数字，以 1 开头"))
    standard = standard_for(today)
    lv = standard.level(level)
    if lv is None:
        errors.append(RowError(None, "申请层级", "请选择认定标准中的层级"))
    elif not 0 <= criterion < len(lv.criteria_zh):
        errors.append(RowError(None, "认定条件", "请选择该层级的一项认定条件"))
    if not evidence:
        errors.append(RowError(None, "证明材料", "请至少提供一份证明材料"))
    if errors:
        raise ValidationFailed(f"申请有 {len(errors)} 处错误，未保存", errors)
    assert inst is not None
    cert = TalentCertification(
        institution_id=inst.id,
        district_code=inst.district_code,
        applicant_name=name,
        id_number=idn,
        mobile=phone,
        level=level,
        standard_version=standard.version,
        criterion=criterion,
        evidence=[
            {
                "name": str(e.get("name", ""))[:200],
                "size": int(e.get("size") or 0),
                "note": str(e.get("note") or "")[:200],
            }
            for e in evidence
        ],
        status=CertStatus.APPLIED,
        applied_on=today,
        synthetic=synthetic,
        created_by=getattr(actor, "id", None),
    )
    session.add(cert)
    session.flush()
    audit.record(
        session,
        action="create",
        user=actor,
        object_type="talent_certifications",
        object_id=cert.id,
        detail={"level": level, "standard": standard.version},
    )
    return cert


# Who may move a record from which status to which.
_MOVES: dict[str, tuple[tuple[CertStatus, ...], CertStatus]] = {
    "review": ((CertStatus.APPLIED, CertStatus.RE_REVIEW), CertStatus.REVIEWING),
    "certify": ((CertStatus.REVIEWING,), CertStatus.CERTIFIED),
    "refuse": ((CertStatus.REVIEWING,), CertStatus.REFUSED),
    "lapse": ((CertStatus.REVIEWING, CertStatus.RE_REVIEW), CertStatus.LAPSED),
}
# City staff with the review permission (auth/permissions.py): the city administrators.
REVIEWERS = tuple(r for r in Role if has_permission(r, Permission.TALENT_REVIEW))


def actions_for(cert: TalentCertification, role: Role) -> list[str]:
    """The review actions open to ``role`` on this record."""
    if role not in REVIEWERS:
        return []
    return [name for name, (sources, _target) in _MOVES.items() if cert.status in sources]


def decide(
    session: Session,
    *,
    scope: Scope,
    actor: Any,
    cert_id: int,
    action: str,
    today: date,
    note: str | None = None,
) -> TalentCertification:
    """A city reviewer's step: take up for review, certify (with validity), refuse, or let lapse."""
    if getattr(actor, "role", None) not in REVIEWERS:
        raise Forbidden(
            "只有市级审核人员可以审核认定申请", message_en="Only city reviewers review applications"
        )
    cert = get_certification(session, scope=scope, cert_id=cert_id)
    if action not in _MOVES:
        raise NotFound("没有这个审核操作", message_en="No such review action")
    sources, target = _MOVES[action]
    if cert.status not in sources:
        raise Conflict(
            f"当前状态为“{cert.status.zh}”，不能执行此操作（可能已被他人处理），请刷新后重试",
            message_en=f"The record is {cert.status.en}; this step is not open (perhaps someone else acted)",
        )
    if action == "refuse" and not (note or "").strip():
        raise ValidationFailed("不予认定须写明理由", [RowError(None, "理由", "请填写不予认定的理由")])
    renewal = cert.status == CertStatus.REVIEWING and cert.valid_until is not None
    before = cert.status
    cert.status = target
    if action == "certify":
        standard = standard_version(cert.standard_version)
        cert.decided_on = today
        cert.valid_until = add_years(today, standard.validity_years)
        cert.renewals += 1 if renewal else 0
    elif action in ("refuse", "lapse"):
        cert.decided_on = today
    if note:
        cert.note = note.strip()[:1000]
    session.flush()
    audit.record(
        session,
        action=action,
        user=actor,
        object_type="talent_certifications",
        object_id=cert.id,
        detail={
            "from": str(before),
            "to": str(target),
            "valid_until": cert.valid_until.isoformat() if cert.valid_until else None,
        },
    )
    return cert


def expire_due(session: Session, *, today: date) -> list[TalentCertification]:
    """Certifications past their validity go to re-review (动态调整) and the city's reviewers and the
    district's officers are told; the daily job calls this."""
    from qiantang.notify import service as notify

    due = list(
        session.scalars(
            select(TalentCertification).where(
                TalentCertification.status == CertStatus.CERTIFIED, TalentCertification.valid_until < today
            )
        ).all()
    )
    for cert in due:
        cert.status = CertStatus.RE_REVIEW
    if not due:
        return due
    session.flush()
    audit.record(
        session,
        action="expire",
        object_type="talent_certifications",
        object_id="daily",
        detail={"ids": [c.id for c in due], "on": today.isoformat()},
    )
    reviewers = list(
        session.scalars(select(User.id).where(User.role.in_(REVIEWERS), User.is_active.is_(True)))
    )
    for district in sorted({c.district_code for c in due}):
        n = sum(1 for c in due if c.district_code == district)
        notify.notify(
            session,
            "talent_re_review",
            user_ids=reviewers + notify.staff(session, district_code=district),
            title=f"{n} 项金融人才认定已到期，转入复审",
            body=f"有效期已满（截至 {today.isoformat()}），请复审后续期或作失效处理。",
            title_en=f"{n} talent certification(s) expired and await re-review",
            body_en=f"Their validity ended before {today.isoformat()}; renew them or let them lapse.",
            link=f"/talent/certifications?status=re_review&district={district}",
            dedupe_key=f"talent_re_review:{district}:{today.isoformat()}",
        )
    return due


def certified_counts(session: Session, *, scope: Scope) -> dict[tuple[str, str], int]:
    """Certified (in force) talent by (level, district code)."""
    stmt = (
        _visible(
            select(TalentCertification.level, TalentCertification.district_code, func.count()),
            scope,
        )
        .where(TalentCertification.status == CertStatus.CERTIFIED)
        .group_by(TalentCertification.level, TalentCertification.district_code)
    )
    return {(lv, d): n for lv, d, n in session.execute(stmt)}
