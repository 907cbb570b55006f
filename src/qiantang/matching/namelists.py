"""Name lists (名单推送): city staff draw a list of firms by criteria kept as data, preview each firm with
why it is on the list, push it to chosen lenders; each lender sees only the firms pushed to it and
answers per firm (contacted / not interested, with a reason); the city sees every answer.

Arrows: this module reads the credit module's stored scores, the enterprises' loans and the fundraising
monitoring's flags (through ``fundraising.service.risk_flags``); none of those imports matching. Firms
the matching's firm-level rules exclude (失信被执行人, an excluded fundraising grade) are left out of a
list, each with its reason, and the push stores how many each rule left out.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.db import utcnow
from qiantang.enterprises.models import Enterprise, Loan
from qiantang.errors import Forbidden, NotFound, QiantangError, RowError, ValidationFailed
from qiantang.matching import engine
from qiantang.matching.models import NameListEntry, NameListPush

RESPONSES = ("pending", "contacted", "not_interested")


@cache
def lists() -> dict[str, dict[str, Any]]:
    """The lists city staff can draw (data/namelists.toml), by code; each carries the file's version."""
    with (resources.files("qiantang.matching") / "data" / "namelists.toml").open("rb") as fh:
        doc = tomllib.load(fh)
    return {x["code"]: {**x, "version": doc["version"]} for x in doc["lists"]}


def spec(code: str) -> dict[str, Any]:
    found = lists().get(code)
    if found is None:
        raise NotFound(f"没有名为“{code}”的名单", message_en=f"No list {code!r}")
    return found


@dataclass
class Drawn:
    """A list drawn today: the firms on it, and those its criteria selected but the matching rules
    leave out (失信被执行人, an excluded fundraising grade), counted by rule."""

    rows: list[dict[str, Any]]
    left_out: list[dict[str, Any]] = field(default_factory=list)  # each with "rule" and "text"
    counts: dict[str, int] = field(default_factory=dict)  # rule → firms left out
    rules_version: str = ""


def candidates(session: Session, *, code: str, scope: Scope, as_of: date) -> list[dict[str, Any]]:
    """The firms on the list today (``draw(...).rows``)."""
    return draw(session, code=code, scope=scope, as_of=as_of).rows


def draw(session: Session, *, code: str, scope: Scope, as_of: date, zh: bool = True) -> Drawn:
    """The firms the list's criteria select today, best grade first, each with why (in words); firms
    the matching's firm-level rules exclude on ``as_of`` are left out, each with the reason."""
    from qiantang.credit.models import CreditScore
    from qiantang.credit.policy import grade_info
    from qiantang.credit.service import current_runs
    from qiantang.registry.service import area_names

    s = spec(code)
    grades = list(s.get("grades") or [])
    best: dict[int, tuple[str, float, date]] = {}
    for model_id, latest in current_runs(session):
        stmt = select(CreditScore.enterprise_id, CreditScore.grade, CreditScore.pd).where(
            CreditScore.model_id == model_id, CreditScore.as_of == latest
        )
        if grades:
            stmt = stmt.where(CreditScore.grade.in_(grades))
        for eid, grade, pd_ in session.execute(stmt):
            if eid not in best or pd_ < best[eid][1]:
                best[eid] = (grade, pd_, latest)
    if not best:
        return Drawn([], rules_version=engine.load_rules().version)
    with_loan: set[int] = set()
    if s.get("no_loan"):
        with_loan = set(session.scalars(select(Loan.borrower_id).where(Loan.start_date <= as_of).distinct()))
    firms = session.execute(
        select(Enterprise.id, Enterprise.name, Enterprise.uscc, Enterprise.district_code).where(
            Enterprise.id.in_(list(best)),
            Enterprise.deregistered_on.is_(None),
            scope.district_clause(Enterprise.district_code),
        )
    ).all()
    names = area_names(session)
    out = []
    for eid, name, uscc, district in firms:
        if eid in with_loan:
            continue
        grade, pd_, scored = best[eid]
        info = grade_info(grade)
        why = f"信用等级 {grade}（{info.name_zh if info else ''}，{scored.isoformat()} 评分）"
        if s.get("no_loan"):
            why += "；截至 " + as_of.isoformat() + " 无银行贷款记录"
        out.append(
            {
                "enterprise_id": eid,
                "name": name,
                "uscc": uscc,
                "district": names.get(district, district),
                "grade": grade,
                "pd": pd_,
                "why": why,
            }
        )
    out.sort(key=lambda r: (r["pd"], r["enterprise_id"]))
    return _screen(session, out, as_of=as_of, limit=int(s.get("limit") or len(out)), zh=zh)


def _screen(session: Session, rows: list[dict[str, Any]], *, as_of: date, limit: int, zh: bool) -> Drawn:
    """Leave out the firms the firm-level matching rules exclude (one batch read of the fundraising
    flags), then keep the best ``limit``; every firm kept carries its flags for the pages."""
    from qiantang.matching.service import label_names, risk_of

    rules = engine.load_rules()
    flags = risk_of(session, [r["enterprise_id"] for r in rows], as_of=as_of)
    names = label_names(session, zh=zh) if flags else {}
    kept: list[dict[str, Any]] = []
    left_out: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for r in rows:
        f = flags.get(r["enterprise_id"])
        r["flags"] = f
        reasons = []
        if f is not None:
            need = {"dishonest_since": f.dishonest_since, "fr_grade": f.grade, "fr_scored_on": f.scored_on}
            reasons = engine.firm_exclusions(need, names=names, zh=zh)
        if reasons:
            for x in reasons:
                counts[x["rule"]] = counts.get(x["rule"], 0) + 1
            left_out.append({**r, "reasons": reasons})
        elif len(kept) < limit:
            kept.append(r)
    return Drawn(kept, left_out, counts, rules.version)


def push(
    session: Session,
    *,
    code: str,
    institution_ids: list[int],
    scope: Scope,
    actor,
    as_of: date,
    enterprise_ids: list[int] | None = None,
) -> NameListPush:
    """Push the list (or the chosen firms of it) to each chosen lender; the firms are re-drawn now."""
    from qiantang.registry.models import Institution

    errors = []
    known = set(session.scalars(select(Institution.id).where(Institution.id.in_(institution_ids or [0]))))
    if not institution_ids:
        errors.append(RowError(None, "推送机构", "请至少选择一家机构"))
    elif missing := [i for i in institution_ids if i not in known]:
        errors.append(RowError(None, "推送机构", f"未登记的机构：{'、'.join(map(str, missing))}"))
    drawn = draw(session, code=code, scope=scope, as_of=as_of)
    rows = drawn.rows
    if enterprise_ids is not None:
        chosen = set(enterprise_ids)
        rows = [r for r in rows if r["enterprise_id"] in chosen]
    if not rows:
        errors.append(RowError(None, "名单企业", "名单中没有企业"))
    if errors:
        raise ValidationFailed("名单未推送", errors)
    s = spec(code)
    criteria = {k: v for k, v in s.items() if k not in ("zh", "en")}
    # Firms the criteria selected but the matching rules left out, counted by rule, with their version.
    criteria["left_out"] = dict(drawn.counts)
    criteria["rules_version"] = drawn.rules_version
    pushed = NameListPush(
        list_code=code, criteria=criteria, as_of=as_of, pushed_by=getattr(actor, "username", None)
    )
    session.add(pushed)
    session.flush()
    for inst in dict.fromkeys(institution_ids):
        for r in rows:
            session.add(
                NameListEntry(
                    push_id=pushed.id, institution_id=inst, enterprise_id=r["enterprise_id"], why=r["why"]
                )
            )
    session.flush()
    return pushed


def entries(session: Session, *, scope: Scope, push_id: int | None = None) -> list[NameListEntry]:
    """Entries a user may see: a lender only those pushed to it; city staff all; others none."""
    from qiantang.auth.models import Role

    stmt = select(NameListEntry).order_by(NameListEntry.push_id.desc(), NameListEntry.id)
    if push_id is not None:
        stmt = stmt.where(NameListEntry.push_id == push_id)
    if scope.role == Role.LENDER:
        stmt = stmt.where(NameListEntry.institution_id == scope.institution_id)
    elif not scope.is_citywide:
        raise Forbidden(
            "名单推送仅市级工作人员与受推送机构可见", message_en="Name lists are for city staff and lenders"
        )
    return list(session.scalars(stmt))


def pushes(session: Session) -> list[dict[str, Any]]:
    """Every push with its answers counted (for city staff)."""
    counts: dict[int, dict[str, int]] = {}
    for push_id, response, n in session.execute(
        select(NameListEntry.push_id, NameListEntry.response, func.count()).group_by(
            NameListEntry.push_id, NameListEntry.response
        )
    ):
        counts.setdefault(push_id, dict.fromkeys(RESPONSES, 0))[response] = n
    return [
        {"push": p, "counts": counts.get(p.id, dict.fromkeys(RESPONSES, 0))}
        for p in session.scalars(select(NameListPush).order_by(NameListPush.id.desc()))
    ]


def respond(
    session: Session, *, entry_id: int, institution_id: int | None, actor, response: str, reason: str = ""
) -> NameListEntry:
    """A lender's answer for one firm pushed to it: contacted, or not interested with a reason."""
    entry = session.get(NameListEntry, entry_id)
    if entry is None or entry.institution_id != institution_id:
        raise Forbidden("只能回复推送给本机构的名单", message_en="Only lists pushed to your institution")
    if response not in ("contacted", "not_interested"):
        raise QiantangError(f"无法识别的回复“{response}”", message_en=f"Unknown answer {response!r}")
    reason = (reason or "").strip()
    if response == "not_interested" and not reason:
        raise ValidationFailed("请说明理由", [RowError(None, "理由", "选择“暂不对接”时必填")])
    if len(reason) > 500:
        raise ValidationFailed("理由过长", [RowError(None, "理由", "不应超过 500 字")])
    entry.response, entry.reason = response, reason or None
    entry.responded_by, entry.responded_at = getattr(actor, "username", None), utcnow()
    session.flush()
    return entry
