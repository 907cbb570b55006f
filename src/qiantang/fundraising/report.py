"""非法集资监测月报: the month's monitoring on a few A4 pages, in Chinese (a district office: its district).

``monthly`` gathers the figures (plain data, testable without HTTP or PDF); ``report_html`` renders them
with the shared A4 frame (``pdf_base.html``); ``report_pdf`` makes the PDF. The page, the background job
(``fundraising.report_pdf``) and the monthly schedule all call these.

What a month means here:

* the grades are those of the latest scoring run on or before the month's last day, compared with the
  latest run on or before the previous month's last day (the same run when none was made in between);
* "new" red and orange firms are red or orange now and were neither in the comparison run;
* tips count by the day a report came in (received) and the day a tip was closed (handled, forwarded);
* cases count by the day they were opened and handed off to the police; a hand-off clock breach is a
  red case whose hand-off was due in the month and came late or has not come by the month's end (or
  today, for the running month);
* collapses (暴雷) count by the day they stopped paying.

Days are the stored UTC timestamps' dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise
from qiantang.errors import ValidationFailed
from qiantang.formatting import fmt_money
from qiantang.fundraising.models import GRADE_ZH, GRADES, Collapse, FirmScore, ScoreRun

SYNTHETIC_NOTE = "演示数据为合成数据，不代表任何真实企业或个人。"
NEW_FIRMS_SHOWN = 25  # new red/orange firms listed (the rest counted)
REASONS_SHOWN = 3
SNIPPET_CHARS = 60
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str) -> tuple[date, date]:
    """'2025-12' → (2025-12-01, 2025-12-31)."""
    m = MONTH.match((text or "").strip())
    if not m:
        raise ValidationFailed("月份格式应为 YYYY-MM（如 2025-12）")
    start = date(int(m.group(1)), int(m.group(2)), 1)
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return start, end


def previous_month(today: date) -> str:
    """The month before ``today``'s (what the schedule on the 1st reports)."""
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def default_month(session: Session) -> str:
    """The month of the latest scoring run (the demo's data month), else the previous month."""
    as_of = session.scalar(select(func.max(ScoreRun.as_of)))
    return f"{as_of.year:04d}-{as_of.month:02d}" if as_of else previous_month(date.today())


@dataclass
class MonthlyReport:
    month: str
    start: date
    end: date
    scope_label: str
    district_code: str | None
    run: ScoreRun | None
    prev_run: ScoreRun | None
    grades: list[dict[str, Any]] = field(default_factory=list)
    districts: list[dict[str, Any]] = field(default_factory=list)
    new_flagged: list[dict[str, Any]] = field(default_factory=list)
    new_flagged_total: int = 0
    tips: dict[str, int] = field(default_factory=dict)
    cases: dict[str, Any] = field(default_factory=dict)
    collapses: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, int] = field(default_factory=dict)  # grade → lowest index of the grade
    data_date: date | None = None
    demo: bool = False
    generated_on: date = field(default_factory=date.today)

    @property
    def same_run(self) -> bool:
        return self.run is not None and self.prev_run is not None and self.run.id == self.prev_run.id


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, datetime.min.time()), datetime.combine(
        end + timedelta(days=1), datetime.min.time()
    )


def _run_on_or_before(session: Session, day: date) -> ScoreRun | None:
    return session.scalar(
        select(ScoreRun)
        .where(ScoreRun.as_of <= day)
        .order_by(ScoreRun.as_of.desc(), ScoreRun.id.desc())
        .limit(1)
    )


def _district(scope: Scope) -> str | None:
    return None if scope.is_citywide else (scope.district_code or "-")


def _counts(session: Session, run: ScoreRun | None, district: str | None) -> dict[str, dict[str, int]]:
    """district → grade → firms in ``run``."""
    if run is None:
        return {}
    stmt = (
        select(FirmScore.district_code, FirmScore.grade, func.count())
        .where(FirmScore.run_id == run.id)
        .group_by(FirmScore.district_code, FirmScore.grade)
    )
    if district:
        stmt = stmt.where(FirmScore.district_code == district)
    out: dict[str, dict[str, int]] = {}
    for d, g, n in session.execute(stmt):
        out.setdefault(d, dict.fromkeys(GRADES, 0))[g] = int(n)
    return out


def _snippet(evidence: Any) -> str:
    """A short piece of the evidence: the advertising text or what a reason quotes (no raw codes)."""
    if isinstance(evidence, dict):
        for key in ("snippet", "内容", "text"):
            if evidence.get(key):
                evidence = evidence[key]
                break
        else:
            return ""
    text = re.sub(r"\s+", " ", str(evidence or "")).strip()
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _new_flagged(
    session: Session, run: ScoreRun, prev: ScoreRun | None, district: str | None, names: dict
) -> tuple[list[dict[str, Any]], int]:
    from qiantang.fundraising.watch import watch_config

    before: set[int] = set()
    if prev is not None and prev.id != run.id:
        before = set(
            session.scalars(
                select(FirmScore.enterprise_id).where(
                    FirmScore.run_id == prev.id, FirmScore.grade.in_(("red", "orange"))
                )
            )
        )
    elif prev is not None:
        return [], 0  # no new run this month: nothing is new
    stmt = (
        select(FirmScore, Enterprise.name)
        .join(Enterprise, Enterprise.id == FirmScore.enterprise_id)
        .where(FirmScore.run_id == run.id, FirmScore.grade.in_(("red", "orange")))
        .order_by(FirmScore.score.desc(), FirmScore.enterprise_id)
    )
    if district:
        stmt = stmt.where(FirmScore.district_code == district)
    categories = watch_config().category_zh
    rows = [(s, name) for s, name in session.execute(stmt).all() if s.enterprise_id not in before]
    out = []
    for s, name in rows[:NEW_FIRMS_SHOWN]:
        reasons = []
        for r in list(s.reasons or [])[:REASONS_SHOWN]:
            if isinstance(r, dict):
                reasons.append({"text": str(r.get("text", "")), "snippet": _snippet(r.get("evidence"))})
            else:
                reasons.append({"text": str(r), "snippet": ""})
        out.append(
            {
                "name": name,
                "district": names.get(s.district_code, s.district_code),
                "category": categories.get(s.category, "—"),
                "grade": s.grade,
                "grade_zh": GRADE_ZH[s.grade],
                "score": round(float(s.score), 1),
                "reasons": reasons,
            }
        )
    return out, len(rows)


def _tips(session: Session, scope: Scope, start: date, end: date) -> dict[str, int]:
    from qiantang.fundraising import tips as tips_service
    from qiantang.fundraising.tip_models import Tip, TipReport, TipStatus

    lo, hi = _bounds(start, end)
    visible = tips_service.visible_clause(scope)
    reports = session.scalar(
        select(func.count(TipReport.id))
        .join(Tip, Tip.id == TipReport.tip_id)
        .where(visible, TipReport.at >= lo, TipReport.at < hi)
    )
    new = session.scalar(select(func.count(Tip.id)).where(visible, Tip.first_at >= lo, Tip.first_at < hi))
    closed = dict(
        session.execute(
            select(Tip.status, func.count(Tip.id))
            .where(visible, Tip.handled_at >= lo, Tip.handled_at < hi)
            .group_by(Tip.status)
        ).all()
    )
    waiting = session.scalar(
        select(func.count(Tip.id)).where(
            visible, Tip.first_at < hi, (Tip.handled_at.is_(None)) | (Tip.handled_at >= hi)
        )
    )
    return {
        "reports": int(reports or 0),
        "new": int(new or 0),
        "handled": int(closed.get(TipStatus.HANDLED, 0)),
        "forwarded": int(closed.get(TipStatus.FORWARDED, 0)),
        "waiting": int(waiting or 0),
    }


def _cases(session: Session, district: str | None, start: date, end: date, names: dict) -> dict[str, Any]:
    from qiantang.cases import service as cases_service
    from qiantang.cases.models import Case

    lo, hi = _bounds(start, end)
    mine = [Case.source.in_(cases_service.ENTERPRISE_SOURCES)]
    if district:
        mine.append(Case.district_code == district)
    opened = dict(
        session.execute(
            select(Case.level, func.count(Case.id))
            .where(*mine, Case.created_at >= lo, Case.created_at < hi)
            .group_by(Case.level)
        ).all()
    )
    by_source = dict(
        session.execute(
            select(Case.source, func.count(Case.id))
            .where(*mine, Case.created_at >= lo, Case.created_at < hi)
            .group_by(Case.source)
        ).all()
    )
    handed_off = session.scalar(
        select(func.count(Case.id)).where(*mine, Case.handed_off_at >= lo, Case.handed_off_at < hi)
    )
    copied = session.scalar(
        select(func.count(Case.id)).where(
            *mine, Case.created_at >= lo, Case.created_at < hi, Case.supervisor_name.is_not(None)
        )
    )
    checked_to = min(end, date.today())
    breaches = []
    for case in session.scalars(
        select(Case)
        .where(*mine, Case.handoff_due_on >= start, Case.handoff_due_on <= end)
        .order_by(Case.handoff_due_on, Case.id)
    ).unique():
        done = case.handed_off_at.date() if case.handed_off_at else None
        late = (done is not None and done > case.handoff_due_on) or (
            done is None and case.handoff_due_on < checked_to
        )
        if late:
            breaches.append(
                {
                    "id": case.id,
                    "name": case.subject_name,
                    "district": names.get(case.district_code, case.district_code),
                    "due": case.handoff_due_on,
                    "done": done,
                }
            )
    return {
        "opened": {lvl: int(opened.get(lvl, 0)) for lvl in ("red", "orange", "yellow")},
        "opened_total": int(sum(opened.values())),
        "from_index": int(by_source.get("fundraising", 0)),
        "from_tips": int(by_source.get("tip", 0)),
        "handed_off": int(handed_off or 0),
        "copied": int(copied or 0),
        "breaches": breaches,
        "checked_to": checked_to,
    }


def amount_text(yuan: float | None) -> str:
    """An amount in 元 as Chinese text (the report is Chinese): ``formatting.fmt_money``."""
    return fmt_money(yuan, zh=True)


def _collapses(session: Session, district: str | None, start: date, end: date, names: dict) -> list[dict]:
    stmt = (
        select(Collapse, Enterprise.name, Enterprise.district_code)
        .join(Enterprise, Enterprise.id == Collapse.enterprise_id)
        .where(Collapse.collapsed_on >= start, Collapse.collapsed_on <= end)
        .order_by(Collapse.collapsed_on, Collapse.id)
    )
    if district:
        stmt = stmt.where(Enterprise.district_code == district)
    return [
        {
            "name": name,
            "district": names.get(d, d),
            "on": c.collapsed_on,
            "victims": c.victims,
            "loss": amount_text(c.loss),
        }
        for c, name, d in session.execute(stmt).all()
    ]


def monthly(session: Session, *, scope: Scope, month: str, demo: bool = False) -> MonthlyReport:
    """The month's figures for ``scope`` (a district office: its district only)."""
    from qiantang.db import get_meta
    from qiantang.fundraising import service
    from qiantang.fundraising.index import config
    from qiantang.fundraising.keywords import matcher
    from qiantang.fundraising.supervisors import supervisors
    from qiantang.fundraising.watch import watch_config
    from qiantang.registry.service import area_names

    start, end = parse_month(month)
    district = _district(scope)
    names = area_names(session, zh=True)
    label = "全市" if district is None else names.get(district, "本区县")
    run = _run_on_or_before(session, end)
    prev = _run_on_or_before(session, start - timedelta(days=1))
    out = MonthlyReport(
        month=month,
        start=start,
        end=end,
        scope_label=label,
        district_code=district,
        run=run,
        prev_run=prev,
        demo=demo or get_meta(session, "demo_scale") is not None,
    )
    now, before = _counts(session, run, district), _counts(session, prev, district)
    for g in GRADES:
        a = sum(c[g] for c in now.values())
        b = sum(c[g] for c in before.values()) if prev is not None else None
        out.grades.append(
            {"grade": g, "zh": GRADE_ZH[g], "now": a, "before": b, "change": None if b is None else a - b}
        )
    zero = dict.fromkeys(GRADES, 0)
    for code in sorted(set(now) | set(before), key=lambda c: names.get(c, c)):
        c, p = now.get(code, zero), before.get(code, zero)
        flagged, flagged_before = c["red"] + c["orange"], p["red"] + p["orange"]
        out.districts.append(
            {
                "name": names.get(code, code),
                **{g: c[g] for g in GRADES},
                "flagged_change": None if prev is None else flagged - flagged_before,
            }
        )
    if run is not None:
        out.new_flagged, out.new_flagged_total = _new_flagged(session, run, prev, district, names)
    out.tips = _tips(session, scope, start, end)
    out.cases = _cases(session, district, start, end, names)
    out.collapses = _collapses(session, district, start, end, names)
    out.versions = {
        "index": run.version if run else config().version,
        "keywords": run.keywords_version if run else matcher().version,
        "watch": watch_config().version,
        "supervisors": supervisors().version,
    }
    out.thresholds = {g: round(v) for g, v in config().grades.items()}
    out.data_date = service.data_date(session)
    return out


def report_html(r: MonthlyReport) -> str:
    """The report's HTML (Chinese whatever the page language)."""
    from qiantang.web.i18n import _current, set_locale
    from qiantang.web.templating import environment

    token = set_locale("zh_CN")
    try:
        return (
            environment()
            .get_template("fundraising/report_pdf.html")
            .render(r=r, demo=r.demo, note=SYNTHETIC_NOTE, today=r.generated_on)
        )
    finally:
        _current.reset(token)


def report_pdf(r: MonthlyReport) -> bytes:
    from qiantang.reports import render_pdf

    return render_pdf(report_html(r))


def queue_district_copies(session: Session, *, month: str) -> int:
    """Queue the month's report of each district for every active officer of that district (the job is
    theirs: its page, its PDF and the inbox note that it is ready). The number of jobs queued."""
    from qiantang.auth.models import Role, User
    from qiantang.jobs import service as jobs
    from qiantang.registry.service import area_names

    names = area_names(session)
    officers = session.scalars(
        select(User)
        .where(User.role == Role.DISTRICT_OFFICER, User.is_active.is_(True), User.district_code.is_not(None))
        .order_by(User.district_code, User.id)
    ).all()
    for user in officers:
        jobs.enqueue(
            session,
            "fundraising.report_pdf",
            title=f"非法集资监测月报：{month}（{names.get(user.district_code, user.district_code)}）",
            user_id=user.id,
            params={"month": month, "district": user.district_code},
        )
    return len(officers)


def filename(r: MonthlyReport) -> str:
    return f"fundraising-monthly-{r.month}.pdf"


__all__ = [
    "MonthlyReport",
    "amount_text",
    "default_month",
    "filename",
    "monthly",
    "parse_month",
    "previous_month",
    "queue_district_copies",
    "report_html",
    "report_pdf",
]
