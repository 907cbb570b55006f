"""The listing reserve: who is in it, stage changes with their rules, funnel, forecast, published counts."""

from __future__ import annotations

import csv
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from qiantang.audit import service as audit
from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, ListingStatus
from qiantang.errors import Conflict, NotFound, QiantangError
from qiantang.listing import pipeline
from qiantang.listing.models import MAIN_PATH, Board, ListingAward, ReserveFirm, Stage, StageEvent
from qiantang.web.i18n import N_

OTC = (Stage.NEEQ, Stage.REGIONAL)


class StageRuleBroken(QiantangError):
    status_code = 422


@dataclass(frozen=True)
class ReserveFilters:
    q: str | None = None
    stage: Stage | None = None
    board: Board | None = None
    district_code: str | None = None
    industry_section: str | None = None


def _visible(stmt, scope: Scope):
    scope.require_enterprises()
    return stmt.join(Enterprise, Enterprise.id == ReserveFirm.enterprise_id).where(
        scope.district_clause(Enterprise.district_code)
    )


def list_reserve(
    session: Session, *, scope: Scope, filters: ReserveFilters, offset: int = 0, limit: int | None = 50
) -> tuple[list[ReserveFirm], int]:
    """Reserve firms within the user's scope, filtered; newest stage change first."""
    stmt = _visible(select(ReserveFirm), scope)
    if filters.q:
        like = f"%{filters.q.strip()}%"
        stmt = stmt.where(
            Enterprise.name.like(like) | Enterprise.uscc.like(like) | ReserveFirm.sponsor.like(like)
        )
    if filters.stage is not None:
        stmt = stmt.where(ReserveFirm.stage == filters.stage)
    if filters.board is not None:
        stmt = stmt.where(ReserveFirm.target_board == filters.board)
    if filters.district_code:
        stmt = stmt.where(Enterprise.district_code == filters.district_code)
    if filters.industry_section:
        stmt = stmt.where(Enterprise.industry_section == filters.industry_section)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = stmt.order_by(ReserveFirm.stage_since.desc(), ReserveFirm.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt).unique().all()), total


def get_firm(session: Session, *, scope: Scope, firm_id: int) -> ReserveFirm:
    firm = session.scalar(
        _visible(select(ReserveFirm), Scope.system())
        .where(ReserveFirm.id == firm_id)
        .options(selectinload(ReserveFirm.events), selectinload(ReserveFirm.awards))
    )
    if firm is None:
        raise NotFound(f"未找到上市后备企业（{firm_id}）", message_en=f"Reserve firm {firm_id} not found")
    scope.require_enterprises()
    scope.check_district(firm.enterprise.district_code, what="上市后备企业")
    return firm


def _main_steps(firm: ReserveFirm) -> list[StageEvent]:
    return [e for e in firm.events if e.stage in MAIN_PATH]


def check_step(firm: ReserveFirm, stage: Stage, on: date, reason: str | None, *, today: date) -> None:
    """The rules of a stage change, each with a Chinese message: dates in order and not in the future,
    a step back or out of the reserve only with a reason, nothing after a listing or an exit."""
    if on > today:
        raise StageRuleBroken(f"日期 {on.isoformat()} 晚于今天", message_en="The date is in the future")
    last = max((e.on for e in firm.events), default=None)
    if last is not None and on < last:
        raise StageRuleBroken(
            f"日期 {on.isoformat()} 早于上一次记录（{last.isoformat()}）：请按时间顺序登记",
            message_en=f"{on.isoformat()} is before the last recorded step ({last.isoformat()})",
        )
    if firm.stage.is_final:
        raise StageRuleBroken(
            f"该企业已{firm.stage.zh}，不能再登记进程", message_en=f"The firm has already: {firm.stage.en}"
        )
    if stage in OTC:
        return
    if stage == Stage.WITHDRAWN:
        if not (reason and reason.strip()):
            raise StageRuleBroken("退出培育库须填写原因", message_en="Leaving the reserve needs a reason")
        return
    if stage == firm.stage:
        raise StageRuleBroken(f"企业已处于“{stage.zh}”阶段", message_en=f"Already at {stage.en}")
    if stage.rank < firm.stage.rank and not (reason and reason.strip()):
        raise StageRuleBroken(
            f"从“{firm.stage.zh}”退回“{stage.zh}”须填写原因（如撤回申报、终止审核）",
            message_en=f"Moving back from {firm.stage.en} to {stage.en} needs a reason",
        )


def record_stage(
    session: Session,
    *,
    firm: ReserveFirm,
    stage: Stage,
    on: date,
    reason: str | None,
    actor,
    today: date | None = None,
) -> StageEvent:
    """Add a step to the firm's history (checked by :func:`check_step`) and audit it."""
    check_step(firm, stage, on, reason, today=today or date.today())
    event = StageEvent(
        firm=firm, stage=stage, on=on, reason=(reason or "").strip() or None, recorded_by=actor.username
    )
    session.add(event)
    if stage not in OTC:
        before = firm.stage
        firm.stage, firm.stage_since = stage, on
    else:
        before = None
    ent = firm.enterprise
    if stage == Stage.LISTED and ent.listing_status == ListingStatus.UNLISTED:
        # A listing recorded here is a listing in the register (the plan's listed-firm count reads it).
        overseas = firm.target_board in (Board.HK, Board.OVERSEAS)
        ent.listing_status = ListingStatus.LISTED_OVERSEAS if overseas else ListingStatus.LISTED_DOMESTIC
        ent.listed_on = on
    session.flush()
    audit.record(
        session,
        action="listing_stage",
        user=actor,
        object_type="listing_reserve",
        object_id=firm.id,
        detail={
            "企业": ent.name,
            "阶段": stage.zh,
            "日期": on.isoformat(),
            "此前": before.zh if before else None,
        }
        | ({"原因": reason} if reason else {}),
    )
    return event


def enrol(
    session: Session,
    *,
    enterprise: Enterprise,
    on: date,
    board: Board = Board.UNDECIDED,
    sponsor: str | None = None,
    actor,
) -> ReserveFirm:
    """Put a registered firm into the reserve (入库培育)."""
    if session.scalar(select(ReserveFirm.id).where(ReserveFirm.enterprise_id == enterprise.id)):
        raise Conflict(f"{enterprise.name} 已在培育库中", message_en="The firm is already in the reserve")
    firm = ReserveFirm(
        enterprise=enterprise,
        target_board=board,
        sponsor=sponsor,
        stage=Stage.ENROLLED,
        stage_since=on,
        enrolled_on=on,
    )
    firm.events.append(StageEvent(stage=Stage.ENROLLED, on=on, recorded_by=actor.username))
    session.add(firm)
    session.flush()
    audit.record(
        session,
        action="listing_enrol",
        user=actor,
        object_type="listing_reserve",
        object_id=firm.id,
        detail={"企业": enterprise.name, "目标板块": board.zh, "入库日期": on.isoformat()},
    )
    return firm


@cache
def award_policy() -> dict[str, Any]:
    with (resources.files("qiantang.listing") / "data" / "awards.toml").open("rb") as fh:
        return tomllib.load(fh)


def record_award(
    session: Session, *, firm: ReserveFirm, kind: str, amount_yuan: float | None, paid_on: date, actor
) -> ListingAward:
    policy = award_policy()
    if kind not in policy["kinds"]:
        raise StageRuleBroken(f"未知的奖励类别“{kind}”", message_en=f"Unknown award kind {kind}")
    amount = amount_yuan if amount_yuan is not None else float(policy["kinds"][kind]["amount"])
    if amount <= 0:
        raise StageRuleBroken("奖励金额须大于 0", message_en="The amount must be positive")
    if any(a.kind == kind for a in firm.awards):
        raise Conflict(
            f"该企业已领取{policy['kinds'][kind]['zh']}", message_en="This award has already been paid"
        )
    award = ListingAward(firm=firm, kind=kind, amount=amount, paid_on=paid_on, policy=policy["source"])
    session.add(award)
    session.flush()
    audit.record(
        session,
        action="listing_award",
        user=actor,
        object_type="listing_reserve",
        object_id=firm.id,
        detail={"企业": firm.enterprise.name, "奖励": policy["kinds"][kind]["zh"], "金额（元）": amount},
    )
    return award


# --- analysis -----------------------------------------------------------------------------------


def histories(
    session: Session, *, scope: Scope, group_by: str | None = None
) -> dict[str, list[pipeline.History]]:
    """Every visible reserve firm's main-path history, grouped by district or industry section."""
    stmt = _visible(select(ReserveFirm.id, Enterprise.district_code, Enterprise.industry_section), scope)
    firms = {fid: (district, section) for fid, district, section in session.execute(stmt).all()}
    steps: dict[int, list[tuple[int, date]]] = defaultdict(list)
    left: dict[int, date] = {}
    rows = session.execute(
        select(StageEvent.firm_id, StageEvent.stage, StageEvent.on)
        .where(StageEvent.firm_id.in_(select(stmt.subquery().c.id)))
        .order_by(StageEvent.firm_id, StageEvent.on, StageEvent.id)
    ).all()
    for fid, stage, on in rows:
        stage = Stage(stage)
        if stage in MAIN_PATH:
            steps[fid].append((stage.rank, on))
        elif stage == Stage.WITHDRAWN:
            left[fid] = on
    out: dict[str, list[pipeline.History]] = defaultdict(list)
    for fid, (district, section) in firms.items():
        if not steps.get(fid):
            continue
        key = "all" if group_by is None else (district if group_by == "district" else section)
        out[key].append(pipeline.History(tuple(steps[fid]), left.get(fid)))
    return out


def funnel(session: Session, *, scope: Scope, as_of: date, group_by: str | None = None):
    """The stage funnel for the whole reserve in scope, or per district / industry section."""
    groups = histories(session, scope=scope, group_by=group_by)
    return {key: pipeline.funnel(h, as_of) for key, h in sorted(groups.items())}


def forecast(session: Session, *, as_of: date, years: int = 5) -> pipeline.Forecast:
    """Listings per year from the city's whole reserve (a forecast is city-wide, like the plan target)."""
    groups = histories(session, scope=Scope.system())
    return pipeline.forecast(groups.get("all", []), as_of=as_of, years=years)


def otc_listings(session: Session, *, scope: Scope) -> dict[str, int]:
    """Reserve firms listed on the NEEQ or the regional equity market (the plan's OTC target)."""
    stmt = _visible(
        select(StageEvent.stage, func.count(func.distinct(StageEvent.firm_id))).select_from(ReserveFirm),
        scope,
    )
    stmt = stmt.join(StageEvent, StageEvent.firm_id == ReserveFirm.id).where(StageEvent.stage.in_(OTC))
    return {Stage(s).value: n for s, n in session.execute(stmt.group_by(StageEvent.stage)).all()}


@dataclass(frozen=True)
class PublishedCount:
    as_of: date
    count: int
    basis: str
    basis_zh: str
    note: str
    quality: str
    source: str

    @property
    def basis_label(self) -> str:
        """The basis as a msgid (translate it where shown)."""
        return BASIS_LABELS.get(self.basis, self.basis_zh)

    @property
    def source_url(self) -> str:
        return next((w for w in self.source.split() if w.startswith(("http://", "https://"))), "")

    @property
    def source_name(self) -> str:
        """The publisher and date without the address; the address's host where nothing else is given."""
        text = " ".join(w for w in self.source.split() if not w.startswith(("http://", "https://")))
        return text or urlsplit(self.source_url).netloc


BASIS_LABELS = {
    "domestic_and_overseas": N_("Listed at home and abroad"),
    "domestic": N_("Listed at home"),
    "a_share": N_("A shares only"),
    "unclear": N_("Basis not stated"),
}


@cache
def published_counts() -> tuple[PublishedCount, ...]:
    """Hangzhou's listed-firm counts as published, each with its basis (口径) and source.

    Bases differ (A-share only, domestic, domestic + overseas): pages show them as separate points and
    say so; no series mixes them.
    """
    path = resources.files("qiantang.listing") / "data" / "hangzhou-listed-counts.csv"
    with path.open(encoding="utf-8") as fh:
        return tuple(
            PublishedCount(
                date.fromisoformat(r["as_of"]),
                int(r["count"]),
                r["basis"],
                r["basis_zh"],
                r["note"],
                r["quality"],
                r["source"],
            )
            for r in csv.DictReader(fh)
        )
