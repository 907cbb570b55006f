"""Public tips (举报) about illegal fundraising: intake, matching to the register, merging, the inbox.

Plain functions; nothing here commits (the request does).

- **Intake** (:func:`submit_tip`): sizes capped, rate-limited per client (a hash of its address, counted
  in ``fundraising_tip_reports`` inside the request's write transaction: SQLite's writes take turns,
  PostgreSQL takes an advisory lock on the client), text stored as typed and escaped on output.
- **Matching** (:func:`match_firm`): an exact USCC, an exact name, or the closest name in the register
  by rapidfuzz with a confidence in 0–1; below :data:`MATCH_MIN` the tip is not tied to a firm and
  the city sorts it.
- **Merging**: a report about the same firm (or the same typed name) within :data:`DEDUPE_DAYS` whose
  text is similar (:data:`DEDUPE_SIMILARITY`) to an open tip's joins it; ``reports`` counts them.
- **Routing**: the tip goes to the firm's district office (notified); an unmatched tip to the city.
- **Receipt**: every report has its own code; :func:`public_status` tells the tipster the status
  and nothing else.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import ColumnElement, false, func, or_, select, text, true, update
from sqlalchemy.orm import Session

from qiantang.audit import service as audit
from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.cases import service as cases
from qiantang.cases.models import Case, CaseSource
from qiantang.db import get_or_404, utcnow
from qiantang.earlywarning.models import Level
from qiantang.enterprises.models import Enterprise
from qiantang.errors import Conflict, Forbidden, QiantangError, TooManyRequests, ValidationFailed
from qiantang.fundraising.tip_models import Tip, TipReport, TipStatus
from qiantang.notify import service as notify
from qiantang.safetext import BIDI_RE
from qiantang.search import index_hits, matches

OBJECT_TYPE = "fundraising_tip"
MAX_FIRM = 200
MAX_TEXT = 2000
MAX_CONTACT = 100
MIN_TEXT = 10
LIMIT_PER_HOUR = 5  # reports from one client
LIMIT_PER_DAY = 20
DEDUPE_DAYS = 30
DEDUPE_SIMILARITY = 70  # rapidfuzz token_set_ratio of the texts, 0–100
MATCH_MIN = 0.75  # below: not tied to a firm
RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
CITY_STAFF = (Role.CITY_ADMIN, Role.CITY_ANALYST)
# Legal-form words that say nothing about which firm is meant.
_FORM_WORDS = re.compile(r"(股份)?有限(责任)?公司|集团|分公司|有限合伙|（.*?）|\(.*?\)")
_PUNCT = re.compile(r"[\s\-_.,，。、·'\"“”‘’:：;；!！?？/\\]+")


class TipTooLarge(QiantangError):
    status_code = 413


# ------------------------------------------------------------------------------------------ input
def _text(value: str | None, *, limit: int, what: str, required: bool = False) -> str:
    value = BIDI_RE.sub("", unicodedata.normalize("NFC", value or "")).strip()
    if required and not value:
        raise ValidationFailed(f"请填写{what}")
    if len(value) > limit:
        raise TipTooLarge(f"{what}过长（最多 {limit} 字）", message_en=f"{what}: at most {limit} characters")
    return value


def _number(value: str | float | int | None, *, what: str, integer: bool = False) -> float | int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    raw = unicodedata.normalize("NFKC", str(value)).replace(",", "").replace("，", "").strip()
    raw = raw.removesuffix("元").removesuffix("人").removesuffix("名").strip()
    factor = 1
    for unit, times in (("亿", 100_000_000), ("万", 10_000)):
        if raw.endswith(unit):
            raw, factor = raw.removesuffix(unit).strip(), times
            break
    try:
        number = float(raw) * factor
    except ValueError:
        raise ValidationFailed(f"{what}应为数字") from None
    if number < 0 or number > 1e13 or number != number:
        raise ValidationFailed(f"{what}超出范围")
    return int(number) if integer else number


def normalise_name(name: str) -> str:
    """A firm name for comparison: full-width folded, legal-form words and punctuation removed."""
    name = unicodedata.normalize("NFKC", name or "").upper()
    name = _FORM_WORDS.sub("", name)
    return _PUNCT.sub("", name)


# --------------------------------------------------------------------------------------- matching
@dataclass(frozen=True)
class Match:
    enterprise_id: int | None
    confidence: float | None  # 0–1
    method: str  # uscc | name | ""
    district_code: str | None


def match_firm(session: Session, firm_text: str) -> Match:
    """The register's firm a tip names: an exact USCC (1.0), or the closest name by rapidfuzz."""
    typed = unicodedata.normalize("NFKC", firm_text or "").strip().upper()
    if USCC_RE.match(typed):
        row = session.execute(
            select(Enterprise.id, Enterprise.district_code).where(Enterprise.uscc == typed)
        ).first()
        if row is not None:
            return Match(row.id, 1.0, "uscc", row.district_code)
        return Match(None, None, "", None)
    key = normalise_name(firm_text)
    if len(key) < 2:
        return Match(None, None, "", None)
    exact = session.execute(
        select(Enterprise.id, Enterprise.district_code).where(Enterprise.name == firm_text.strip()).limit(1)
    ).first()
    if exact is not None:
        return Match(exact.id, 1.0, "name", exact.district_code)
    rows = _candidates(session, key)
    if not rows:
        return Match(None, None, "", None)
    choices = [normalise_name(r.name) for r in rows]
    best = process.extractOne(key, choices, scorer=fuzz.ratio, score_cutoff=MATCH_MIN * 100)
    if best is None:
        return Match(None, None, "", None)
    _choice, score, index = best
    row = rows[index]
    return Match(row.id, round(score / 100, 3), "name", row.district_code)


CANDIDATE_WINDOWS = 8  # 3-character pieces of the typed name looked up in the register's text index
CANDIDATES_PER_WINDOW = 300


def _candidates(session: Session, key: str) -> list:
    """Firms whose name contains a 3-character piece of ``key``, through the register's text index
    (a million firms at city scale are never read whole). A typo spoils the pieces that cover it,
    not the others. The index says how common each piece is (a probe that stops counting past the
    cap), and the rarest are used first, so a piece in half the register's names ("杭州市") never
    crowds out the distinctive ones; a piece no name holds is skipped. rapidfuzz then ranks the
    candidates."""
    size = min(3, len(key))
    windows = list(dict.fromkeys(key[i : i + size] for i in range(len(key) - size + 1)))
    counted = [
        (index_hits(session, "enterprises", w, cap=CANDIDATES_PER_WINDOW), i, w)
        for i, w in enumerate(windows)
    ]
    windows = [w for n, _i, w in sorted(counted) if n > 0]
    found: dict[int, Any] = {}
    for window in windows[:CANDIDATE_WINDOWS]:
        stmt = (
            select(Enterprise.id, Enterprise.name, Enterprise.district_code)
            .where(matches(session, "enterprises", Enterprise.id, window))
            .limit(CANDIDATES_PER_WINDOW)
        )
        for row in session.execute(stmt):
            found.setdefault(row.id, row)
    return list(found.values())


# ------------------------------------------------------------------------------------ rate limit
def client_key(ip: str | None) -> str:
    """What the limit counts by: a hash of the client's address (the address itself is not stored)."""
    return hashlib.sha256(f"qiantang-tip:{ip or 'unknown'}".encode()).hexdigest()


def _serialise(session: Session, key: str) -> None:
    # SQLite: a POST is a write transaction (BEGIN IMMEDIATE), so reports already take turns.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": "tip:" + key})


def check_rate(session: Session, key: str, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    hour, day = session.execute(
        select(
            func.count().filter(TipReport.at >= now - timedelta(hours=1)),
            func.count(),
        ).where(TipReport.client_key == key, TipReport.at >= now - timedelta(days=1))
    ).one()
    if (hour or 0) >= LIMIT_PER_HOUR:
        raise TooManyRequests(
            "提交过于频繁，请一小时后再试",
            message_en="Too many tips; try again in an hour",
            retry_after_seconds=3600,
        )
    if (day or 0) >= LIMIT_PER_DAY:
        raise TooManyRequests(
            "今日提交次数已达上限，请明天再试",
            message_en="Too many tips today; try again tomorrow",
            retry_after_seconds=86400,
        )


# --------------------------------------------------------------------------------------- intake
def _receipt_code(session: Session, choose: Callable[[str], str] = secrets.choice) -> str:
    """A new receipt code, 12 characters of :data:`RECEIPT_ALPHABET` in groups of four; ``choose``
    picks each character (the system's secure random; the demo passes a seeded one)."""
    while True:
        code = "".join(choose(RECEIPT_ALPHABET) for _ in range(12))
        code = f"{code[:4]}-{code[4:8]}-{code[8:]}"
        if session.scalar(select(TipReport.id).where(TipReport.receipt_code == code)) is None:
            return code


def normalise_receipt(code: str | None) -> str:
    raw = re.sub(r"[^0-9A-Z]", "", unicodedata.normalize("NFKC", code or "").upper())
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:12]}" if len(raw) == 12 else ""


def _duplicate_of(session: Session, *, match: Match, firm_text: str, what: str, now: datetime) -> Tip | None:
    since = now - timedelta(days=DEDUPE_DAYS)
    stmt = select(Tip).where(Tip.status == TipStatus.NEW, Tip.last_at >= since)
    if match.enterprise_id is not None:
        stmt = stmt.where(Tip.enterprise_id == match.enterprise_id)
    else:
        stmt = stmt.where(Tip.enterprise_id.is_(None), Tip.firm_text == firm_text)
    for tip in session.scalars(stmt.order_by(Tip.id.desc()).limit(50)).unique():
        texts = [tip.what_happened] + [r.what_happened for r in tip.report_rows[-5:]]
        if max(fuzz.token_set_ratio(what, t) for t in texts) >= DEDUPE_SIMILARITY:
            return tip
    return None


@dataclass(frozen=True)
class Receipt:
    code: str
    tip_id: int
    merged: bool


def submit_tip(
    session: Session,
    *,
    firm: str,
    what_happened: str,
    amount: str | float | None = None,
    people: str | int | None = None,
    contact: str | None = None,
    ip: str | None = None,
    now: datetime | None = None,
    notify_staff: bool = True,
    choose: Callable[[str], str] = secrets.choice,
) -> Receipt:
    """Take a tip from the public page: check, limit, match, merge or open, notify; its receipt.

    ``notify_staff=False`` and a seeded ``choose`` (receipt characters) are for the demo's synthetic
    history, which reports months-old tips without telling the offices of each."""
    firm = _text(firm, limit=MAX_FIRM, what="企业名称或统一社会信用代码", required=True)
    what = _text(what_happened, limit=MAX_TEXT, what="举报内容", required=True)
    if len(what) < MIN_TEXT:
        raise ValidationFailed(f"请把情况写得具体一些（至少 {MIN_TEXT} 字）")
    contact = _text(contact, limit=MAX_CONTACT, what="联系方式")
    amount_yuan = _number(amount, what="涉及金额")
    people_n = _number(people, what="涉及人数", integer=True)
    now = now or utcnow()
    key = client_key(ip)
    _serialise(session, key)
    check_rate(session, key, now=now)
    match = match_firm(session, firm)
    # Reports about one firm take turns too (PostgreSQL), so that two at once merge rather than both open.
    _serialise(session, f"firm:{match.enterprise_id or normalise_name(firm)}")
    tip = _duplicate_of(session, match=match, firm_text=firm, what=what, now=now)
    merged = tip is not None
    if tip is None:
        tip = Tip(
            firm_text=firm,
            enterprise_id=match.enterprise_id,
            match_confidence=match.confidence,
            match_method=match.method,
            district_code=match.district_code,
            what_happened=what,
            amount_yuan=amount_yuan,
            people=people_n,
            status=TipStatus.NEW,
            reports=1,
            first_at=now,
            last_at=now,
            handling_note="",
        )
        session.add(tip)
        session.flush()
    else:
        tip.reports += 1
        tip.last_at = now
        if amount_yuan is not None:
            tip.amount_yuan = max(tip.amount_yuan or 0, amount_yuan)
        if people_n is not None:
            tip.people = max(tip.people or 0, people_n)
    report = TipReport(
        tip_id=tip.id,
        receipt_code=_receipt_code(session, choose),
        at=now,
        client_key=key,
        what_happened=what,
        amount_yuan=amount_yuan,
        people=people_n,
        contact=contact,
    )
    session.add(report)
    session.flush()
    audit.record(
        session,
        action="tip_merged" if merged else "tip_received",
        user=None,
        username="public",
        object_type=OBJECT_TYPE,
        object_id=tip.id,
        detail={
            "reports": tip.reports,
            "match": match.method or "none",
            **({"district_code": tip.district_code} if tip.district_code else {}),
        },
    )
    if not merged and notify_staff:
        _notify_new(session, tip)
    return Receipt(code=report.receipt_code, tip_id=tip.id, merged=merged)


def _notify_new(session: Session, tip: Tip) -> None:
    if tip.district_code:
        ids = notify.staff(session, district_code=tip.district_code)
    else:
        ids = notify.staff(session, city=True)
    name = tip.enterprise.name if tip.enterprise_id and tip.enterprise else tip.firm_text
    notify.notify(
        session,
        "tip_received",
        user_ids=ids,
        title=f"新的非法集资举报线索：{name}"[:300],
        body="请在举报线索收件箱中查看并处理。",
        title_en="A new public tip about illegal fundraising",
        body_en="Open the tips inbox to handle it.",
        link=f"/fundraising/tips/{tip.id}",
    )


@dataclass(frozen=True)
class PublicStatus:
    code: str
    received_on: date
    status_zh: str
    status_en: str
    updated_on: date | None


def public_status(session: Session, code: str) -> PublicStatus | None:
    """What a tipster may know of a report by its receipt code: received, and the status. No firm data."""
    code = normalise_receipt(code)
    if not code:
        return None
    row = session.execute(
        select(TipReport.at, Tip.status, Tip.handled_at)
        .join(Tip, Tip.id == TipReport.tip_id)
        .where(TipReport.receipt_code == code)
    ).first()
    if row is None:
        return None
    status = TipStatus(row.status)
    return PublicStatus(
        code=code,
        received_on=row.at.date(),
        status_zh=status.public_zh,
        status_en=status.en,
        updated_on=row.handled_at.date() if row.handled_at else None,
    )


# ------------------------------------------------------------------------------------ staff side
def visible_clause(scope: Scope) -> ColumnElement[bool]:
    """City staff and auditors see every tip; a district office its district's; nobody else any."""
    if scope.role in CITY_STAFF or scope.role == Role.AUDITOR:
        return true()
    if scope.role == Role.DISTRICT_OFFICER and scope.district_code:
        return Tip.district_code == scope.district_code
    return false()


def can_view(scope: Scope, tip: Tip) -> bool:
    if scope.role in CITY_STAFF or scope.role == Role.AUDITOR:
        return True
    return scope.role == Role.DISTRICT_OFFICER and tip.district_code == scope.district_code


def can_act(scope: Scope, tip: Tip) -> bool:
    return scope.role in CITY_STAFF or (
        scope.role == Role.DISTRICT_OFFICER and tip.district_code == scope.district_code
    )


def get_tip(session: Session, *, scope: Scope, tip_id: int) -> Tip:
    tip = get_or_404(session, Tip, tip_id, what="举报线索")
    if not can_view(scope, tip):
        raise Forbidden(
            "无权查看此举报线索（其他区县的线索）", message_en="This tip belongs to another district"
        )
    return tip


@dataclass(frozen=True)
class TipFilters:
    status: TipStatus | None = None
    district_code: str | None = None
    matched: bool | None = None  # tied to a firm of the register, or not
    since: date | None = None
    q: str | None = None


def _filtered(session: Session, stmt, *, scope: Scope, filters: TipFilters):
    stmt = stmt.where(visible_clause(scope))
    f = filters
    if f.status:
        stmt = stmt.where(Tip.status == f.status)
    if f.district_code:
        stmt = stmt.where(Tip.district_code == f.district_code)
    if f.matched is True:
        stmt = stmt.where(Tip.enterprise_id.is_not(None))
    elif f.matched is False:
        stmt = stmt.where(Tip.enterprise_id.is_(None))
    if f.since:
        stmt = stmt.where(Tip.last_at >= datetime.combine(f.since, datetime.min.time()))
    if f.q and f.q.strip():
        # The firm as typed and what happened through the tips' text index, the matched firm's name
        # through the register's (qiantang/search.py).
        q = f.q.strip()
        firms = select(Enterprise.id).where(matches(session, "enterprises", Enterprise.id, q))
        stmt = stmt.where(or_(matches(session, "fundraising_tips", Tip.id, q), Tip.enterprise_id.in_(firms)))
    return stmt


def list_tips(
    session: Session,
    *,
    scope: Scope,
    filters: TipFilters = TipFilters(),
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[list[Tip], int]:
    """Tips the scope may see, newest first, with the total."""
    base = _filtered(session, select(Tip), scope=scope, filters=filters)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    stmt = base.order_by(Tip.last_at.desc(), Tip.id.desc()).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt).unique()), total


def count_by_status(session: Session, *, scope: Scope, filters: TipFilters = TipFilters()) -> dict[str, int]:
    sub = _filtered(session, select(Tip.id, Tip.status), scope=scope, filters=filters).subquery()
    return {str(s): n for s, n in session.execute(select(sub.c.status, func.count()).group_by(sub.c.status))}


def _check_act(scope: Scope, tip: Tip) -> None:
    if not can_act(scope, tip):
        raise Forbidden(
            "您只能查看，不能处理此举报线索", message_en="You may read this tip but not handle it"
        )
    if tip.status != TipStatus.NEW:
        raise Conflict(f"该线索已{TipStatus(tip.status).zh}", message_en="This tip was already handled")


def _claim(session: Session, tip: Tip, status: TipStatus) -> None:
    """Two officers acting on one tip at once: the tip is claimed by one UPDATE that finds it still
    new (PostgreSQL makes the second wait for the first and then find nothing to update; SQLite's
    writers already take turns), so it is handled or forwarded once, and never opens two cases."""
    claimed = session.execute(
        update(Tip)
        .where(Tip.id == tip.id, Tip.status == TipStatus.NEW)
        .values(status=status)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(tip, ["status"])
    if claimed != 1:
        raise Conflict(
            f"该线索已{TipStatus(tip.status).zh}（刚由他人处理）",
            message_en="Someone else handled this tip just now",
        )


def mark_handled(session: Session, *, tip_id: int, actor, note: str) -> Tip:
    """Close a tip with what was done (checked, no fundraising found, passed to another body …)."""
    scope = cases.scope_of(actor)
    tip = get_tip(session, scope=scope, tip_id=tip_id)
    _check_act(scope, tip)
    note = _text(note, limit=cases.MAX_TEXT, what="处理情况", required=True)
    _claim(session, tip, TipStatus.HANDLED)
    tip.handling_note = note
    tip.handled_by = getattr(actor, "username", None)
    tip.handled_at = utcnow()
    audit.record(
        session,
        action="tip_handled",
        user=actor,
        object_type=OBJECT_TYPE,
        object_id=tip.id,
        detail={"tip_status": tip.status.value, "note": note[:500]},
    )
    session.flush()
    return tip


def _supervisor(session: Session, firm):
    """The sector's supervisor of a tipped firm: by its class in the latest index run (None when the
    firm is not watched)."""
    from qiantang.fundraising import routing
    from qiantang.fundraising.models import FirmScore, ScoreRun

    category = session.scalar(
        select(FirmScore.category)
        .join(ScoreRun, ScoreRun.id == FirmScore.run_id)
        .where(FirmScore.enterprise_id == firm.id)
        .order_by(ScoreRun.id.desc())
        .limit(1)
    )
    return routing.firm_supervisor(session, firm, category) if category else None


def forward_to_case(
    session: Session, *, tip_id: int, actor, note: str = "", today: date | None = None
) -> Case:
    """Open a case on the tip's firm (or join its open fundraising case) and mark the tip forwarded."""
    scope = cases.scope_of(actor)
    tip = get_tip(session, scope=scope, tip_id=tip_id)
    _check_act(scope, tip)
    if tip.enterprise_id is None:
        raise Conflict(
            "该线索未对应到登记的企业，不能转立案；请核实后标记处理",
            message_en="The tip names no firm of the register; handle it instead",
        )
    note = _text(note, limit=cases.MAX_TEXT, what="说明")
    today = today or date.today()
    _claim(session, tip, TipStatus.FORWARDED)
    case = session.scalars(
        select(Case)
        .where(
            Case.enterprise_id == tip.enterprise_id,
            Case.source.in_(cases.ENTERPRISE_SOURCES),
            Case.state.in_(cases.OPEN_STATES),
        )
        .order_by(Case.id)
        .limit(1)
    ).first()
    evidence = [
        {
            "dimension": "投诉举报",
            "text": f"群众举报（{tip.reports} 次）",
            "evidence": {"线索编号": tip.id, "内容": tip.what_happened[:500]},
        }
    ]
    if case is None:
        firm = tip.enterprise
        sup = _supervisor(session, firm)
        case = cases.open_enterprise_case(
            session,
            enterprise=firm,
            level=Level.YELLOW,
            source=CaseSource.TIP,
            title=f"{firm.name}：群众举报非法集资线索",
            today=today,
            evidence=evidence,
            actor=actor,
            supervisor_code=sup.code if sup else None,
            supervisor_name=sup.zh if sup else None,
        )
    else:
        cases.check_view(scope, case)
        cases._log(
            session,
            case,
            actor=actor,
            action="comment",
            comment=f"并入举报线索 #{tip.id}：{tip.what_happened[:300]}",
        )
    tip.case_id = case.id
    tip.handling_note = note or f"转立案核查（案件 {case.id}）"
    tip.handled_by = getattr(actor, "username", None)
    tip.handled_at = utcnow()
    audit.record(
        session,
        action="tip_forwarded",
        user=actor,
        object_type=OBJECT_TYPE,
        object_id=tip.id,
        detail={"tip_status": tip.status.value, "case_id": case.id},
    )
    session.flush()
    return case


def tip_counts_by_enterprise(
    session: Session, since: date | datetime | None = None, until: date | None = None
) -> dict[int, int]:
    """Reports (merged duplicates counted) per firm of the register since ``since`` and up to the end
    of the day ``until`` (a run as of an earlier day counts only what was known then): the index
    engine's complaints-and-tips signal."""
    stmt = (
        select(Tip.enterprise_id, func.count(TipReport.id))
        .join(TipReport, TipReport.tip_id == Tip.id)
        .where(Tip.enterprise_id.is_not(None))
        .group_by(Tip.enterprise_id)
    )
    if since is not None:
        start = since if isinstance(since, datetime) else datetime.combine(since, datetime.min.time())
        stmt = stmt.where(TipReport.at >= start)
    if until is not None:
        stmt = stmt.where(TipReport.at < datetime.combine(until + timedelta(days=1), datetime.min.time()))
    return {int(eid): int(n) for eid, n in session.execute(stmt)}
