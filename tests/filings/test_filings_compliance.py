"""Compliance (报送情况): who was expected to file, on time / late / missing, summaries, scoping,
and each institution's missing quarters."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from qiantang.auth.models import User
from qiantang.auth.scope import Scope
from qiantang.filings import service
from qiantang.filings.models import Filing
from qiantang.filings.periods import RECORDS_START, periods_between, quarter_end_of
from qiantang.filings.samples import sample_values, workbook
from qiantang.filings.service import ComplianceStatus as S
from qiantang.filings.templates import all_templates, get_template
from qiantang.registry.models import Institution, InstitutionType

Q4 = date(2025, 12, 31)
AFTER_Q4_DUE = date(2026, 3, 1)


def scope_of(db, username: str) -> tuple[User, Scope]:
    u = db.scalar(select(User).where(User.username == username))
    return u, Scope.for_user(u)


def expected_by_hand(db, period_end: date, today: date) -> dict[int, S]:
    """The definition, straight from the tables: open at the quarter end, first submission vs due."""
    filers = db.execute(
        select(
            Institution.id,
            Institution.established_on,
            Institution.deregistered_on,
            InstitutionType.filing_template,
        )
        .join(InstitutionType, InstitutionType.code == Institution.type_code)
        .where(InstitutionType.filing_template.is_not(None))
    ).all()
    first = dict(
        db.execute(
            select(Filing.institution_id, func.min(Filing.submitted_at))
            .where(Filing.period_end == period_end)
            .group_by(Filing.institution_id)
        ).all()
    )
    out = {}
    for iid, est, dereg, template in filers:
        if est > period_end or (dereg is not None and dereg <= period_end):
            continue
        due = period_end + timedelta(days=all_templates()[template].due_days)
        if iid in first:
            out[iid] = S.LATE if first[iid].date() > due else S.ON_TIME
        else:
            out[iid] = S.MISSING if today > due else S.PENDING
    return out


def test_compliance_follows_the_definition(db):
    result = service.compliance(db, scope=Scope.system(), period_end=Q4, today=AFTER_Q4_DUE)
    got = {r.institution_id: r.status for r in result.rows}
    assert got == expected_by_hand(db, Q4, AFTER_Q4_DUE)
    counts = Counter(got.values())
    assert counts[S.ON_TIME] > 0 and counts[S.LATE] > 0 and counts[S.MISSING] > 0  # the demo has all three
    assert result.total.expected == len(got)
    assert (result.total.on_time, result.total.late, result.total.missing) == (
        counts[S.ON_TIME],
        counts[S.LATE],
        counts[S.MISSING],
    )
    assert sum(s.expected for s in result.by_type) == result.total.expected
    assert result.total.rate == pytest.approx(100 * (counts[S.ON_TIME] + counts[S.LATE]) / len(got))
    # No P2P platform is left in 2025 (all closed by 2020): none is expected.
    assert "p2p_lending" not in {s.type_code for s in result.by_type}
    revised = [r for r in result.rows if r.revisions > 1]
    assert revised and all(r.current_filing_id for r in revised)


def test_status_filter_template_filter_and_pending(db):
    late = service.compliance(db, scope=Scope.system(), period_end=Q4, status=S.LATE, today=AFTER_Q4_DUE)
    assert late.rows and {r.status for r in late.rows} == {S.LATE}
    assert late.total.expected > len(late.rows)  # summaries are not narrowed by the status filter
    pfm = service.compliance(
        db, scope=Scope.system(), period_end=Q4, template_code="private_fund_manager", today=AFTER_Q4_DUE
    )
    assert {r.type_code for r in pfm.rows} == {"private_fund_manager"}
    # Before the due date, those who have not filed are pending, not missing.
    early = service.compliance(
        db, scope=Scope.system(), period_end=date(2026, 3, 31), today=date(2026, 4, 10)
    )
    assert {r.status for r in early.rows} == {S.PENDING}
    assert early.total.missing == 0 and early.total.pending == early.total.expected


def test_default_period_is_the_latest_quarter_past_its_due_date(db):
    assert service.default_period(today=date(2026, 1, 15)) == date(2025, 9, 30)
    assert service.default_period(today=date(2026, 1, 16)) == Q4
    assert service.compliance(db, scope=Scope.system(), today=date(2026, 1, 16)).period_end == Q4


def early_returns(db, period_end: date, n: int, skip: int = 0) -> None:
    """``n`` returns for ``period_end`` filed before its due date (copies of 2025Q4 returns)."""
    current = select(Filing).where(Filing.period_end == Q4, Filing.is_current.is_(True))
    for old in db.scalars(current.order_by(Filing.id).offset(skip).limit(n)):
        db.add(
            Filing(
                institution_id=old.institution_id,
                template_code=old.template_code,
                template_version=old.template_version,
                period_end=period_end,
                data=old.data,
                due_on=period_end + timedelta(days=15),
                submitted_at=datetime(period_end.year, period_end.month, period_end.day) + timedelta(days=2),
                source=old.source,
            )
        )
    db.flush()


def test_pages_open_on_the_latest_complete_quarter(db):
    # The tiny city's returns end with 2025Q4 (due 2026-01-15).
    shown = service.shown_period(db, today=date(2026, 1, 20))
    assert (shown.period_end, shown.reason) == (Q4, "due")
    # Before the due date, but every return is in: the quarter is complete.
    shown = service.shown_period(db, today=date(2026, 1, 10))
    assert (shown.period_end, shown.reason) == (Q4, "most_filed")
    # One early return for 2026Q3 does not make pages open on it (nor on the empty Q1–Q2 before it).
    early_returns(db, date(2026, 9, 30), 1)
    shown = service.shown_period(db, today=date(2026, 10, 5))
    assert (shown.period_end, shown.reason, shown.due) == (Q4, "latest_filed", date(2026, 6, 30))
    assert service.compliance(db, scope=Scope.system(), period_end=shown.period_end).total.filed > 0
    # Once most institutions have filed for it, it is shown even before its due date.
    expected = service.compliance(db, scope=Scope.system(), period_end=date(2026, 9, 30)).total.expected
    early_returns(db, date(2026, 9, 30), expected, skip=1)
    shown = service.shown_period(db, today=date(2026, 10, 5))
    assert (shown.period_end, shown.reason) == (date(2026, 9, 30), "most_filed")
    assert service.shown_period(db, chosen=date(2020, 3, 31)).reason == "chosen"


def test_the_filings_page_says_which_quarter_it_shows(clients):
    admin = clients.as_user("admin")
    page = admin.get("/filings")
    assert page.status_code == 200 and 'data-testid="shown-period"' in page.text
    shown = service.shown_period(clients.db)
    label = f"{shown.period_end.year}年第{(shown.period_end.month - 1) // 3 + 1}季度"
    assert f"显示 {label}" in page.text
    assert f'value="{service.period_label(shown.period_end)}" selected' in page.text
    chosen = admin.get("/filings?period=2020Q2")
    assert "显示 2020年第2季度。" in chosen.text


def test_on_time_late_and_revisions_in_compliance(db):
    admin, admin_scope = scope_of(db, "admin")
    template = get_template("small_loan")
    a, b = db.scalars(
        select(Institution)
        .where(Institution.type_code == "small_loan", Institution.deregistered_on.is_(None))
        .order_by(Institution.id)
        .limit(2)
    ).all()

    def file(inst, when, seed=0):
        content = workbook(
            template, [{"uscc": inst.uscc, "period": "2026Q1", **sample_values(template, seed=seed)}]
        )
        service.upload_filings(
            db,
            content=content,
            filename="q.xlsx",
            template_code="small_loan",
            actor=admin,
            scope=admin_scope,
            now=when,
        )

    file(a, datetime(2026, 4, 15, 8, 0))  # due 2026-04-15: on time
    file(a, datetime(2026, 6, 1, 8, 0), seed=1)  # a correction later does not make it late
    file(b, datetime(2026, 4, 16, 8, 0))  # one day late
    result = service.compliance(
        db,
        scope=Scope.system(),
        period_end=date(2026, 3, 31),
        template_code="small_loan",
        today=date(2026, 7, 1),
    )
    by_id = {r.institution_id: r for r in result.rows}
    assert (by_id[a.id].status, by_id[a.id].revisions) == (S.ON_TIME, 2)
    assert by_id[a.id].first_submitted_at == datetime(2026, 4, 15, 8, 0)
    assert by_id[a.id].last_submitted_at == datetime(2026, 6, 1, 8, 0)
    assert (by_id[b.id].status, by_id[b.id].revisions) == (S.LATE, 1)
    current = db.scalar(
        select(Filing.id).where(
            Filing.institution_id == a.id, Filing.period_end == date(2026, 3, 31), Filing.is_current
        )
    )
    assert by_id[a.id].current_filing_id == current
    others = [r for r in result.rows if r.institution_id not in (a.id, b.id)]
    assert others and {r.status for r in others} == {S.MISSING}
    summary = result.by_type[0]
    assert (summary.on_time, summary.late, summary.missing) == (1, 1, summary.expected - 2)


def test_district_officer_sees_only_its_district(db):
    _u, xihu = scope_of(db, "xihu")
    mine = service.compliance(db, scope=xihu, period_end=Q4, today=AFTER_Q4_DUE)
    assert mine.rows and {r.district_code for r in mine.rows} == {"330106"}
    city = service.compliance(
        db, scope=Scope.system(), period_end=Q4, district_code="330106", today=AFTER_Q4_DUE
    )
    assert [r.institution_id for r in mine.rows] == [r.institution_id for r in city.rows]
    # Asking for another district gives nothing, not that district.
    other = service.compliance(db, scope=xihu, period_end=Q4, district_code="330108", today=AFTER_Q4_DUE)
    assert other.rows == [] and other.total.expected == 0
    rows, total = service.list_filings(db, scope=xihu, filters=service.FilingFilters(period_end=Q4))
    assert total > 0
    assert {r.district_code for r in rows} == {"330106"}


def test_reporter_sees_only_its_institution(db):
    u, scope = scope_of(db, "reporter")
    result = service.compliance(db, scope=scope, period_end=Q4, today=AFTER_Q4_DUE)
    assert [r.institution_id for r in result.rows] == [u.institution_id]
    rows, total = service.list_filings(
        db, scope=scope, filters=service.FilingFilters(include_superseded=True), limit=1000
    )
    assert total == len(rows) > 40
    assert {r.filing.institution_id for r in rows} == {u.institution_id}


def test_missing_periods_of_an_institution(db):
    # A demo institution with a gap: expected for 2025Q4 and not filed.
    result = service.compliance(db, scope=Scope.system(), period_end=Q4, status=S.MISSING, today=AFTER_Q4_DUE)
    row = result.rows[0]
    inst = db.get(Institution, row.institution_id)
    missing = service.missing_periods(db, institution=inst, today=AFTER_Q4_DUE)
    assert Q4 in missing
    filed = set(db.scalars(select(Filing.period_end).where(Filing.institution_id == inst.id)).all())
    assert not filed & set(missing)
    start = max(RECORDS_START, quarter_end_of(inst.established_on))
    expected = [p for p in periods_between(start, Q4) if p not in filed]
    assert missing == expected


def test_missing_periods_start_at_establishment_and_stop_at_exit(db):
    young = db.scalar(
        select(Institution)
        .join(InstitutionType, InstitutionType.code == Institution.type_code)
        .where(InstitutionType.filing_template.is_not(None), Institution.established_on > date(2016, 1, 1))
        .order_by(Institution.id)
        .limit(1)
    )
    gone = db.scalar(
        select(Institution)
        .join(InstitutionType, InstitutionType.code == Institution.type_code)
        .where(InstitutionType.filing_template.is_not(None), Institution.deregistered_on < date(2024, 1, 1))
        .order_by(Institution.id)
        .limit(1)
    )
    for p in service.missing_periods(db, institution=young, today=AFTER_Q4_DUE):
        assert p >= quarter_end_of(young.established_on)
    for p in service.missing_periods(db, institution=gone, today=AFTER_Q4_DUE):
        assert p < gone.deregistered_on


def test_reporter_missing_after_filing_a_new_quarter(db):
    u, scope = scope_of(db, "reporter")
    inst = db.get(Institution, u.institution_id)
    template = get_template("small_loan")
    before = service.missing_periods(db, institution=inst, today=date(2026, 8, 1))
    assert date(2026, 3, 31) in before and date(2026, 6, 30) in before
    content = workbook(template, [{"uscc": inst.uscc, "period": "2026Q1", **sample_values(template)}])
    service.upload_filings(
        db,
        content=content,
        filename="q.xlsx",
        template_code="small_loan",
        actor=u,
        scope=scope,
        now=datetime(2026, 4, 2),
    )
    after = service.missing_periods(db, institution=inst, today=date(2026, 8, 1))
    assert after == [p for p in before if p != date(2026, 3, 31)]
    # 2026Q3 is not yet due on 2026-08-01, so it is not missing.
    assert date(2026, 9, 30) not in after


def test_the_cached_compliance_follows_every_new_filing_and_registry_edit(db):
    """The pages reuse a compliance list; a filing, a revision or a registry edit must show at once."""
    admin, admin_scope = scope_of(db, "admin")
    template = get_template("small_loan")
    inst = db.scalars(
        select(Institution)
        .where(Institution.type_code == "small_loan", Institution.deregistered_on.is_(None))
        .order_by(Institution.id)
    ).first()
    q1 = date(2026, 3, 31)

    def status_of(institution_id: int):
        result = service.compliance_cached(db, scope=admin_scope, period_end=q1, template_code="small_loan")
        return {r.institution_id: r for r in result.rows}.get(institution_id)

    before = status_of(inst.id)
    assert before is not None and before.revisions == 0
    assert status_of(inst.id) is before  # the same answer again, reused

    content = workbook(template, [{"uscc": inst.uscc, "period": "2026Q1", **sample_values(template, seed=0)}])
    service.upload_filings(
        db,
        content=content,
        filename="q.xlsx",
        template_code="small_loan",
        actor=admin,
        scope=admin_scope,
        now=datetime(2026, 4, 10, 8, 0),
    )
    assert status_of(inst.id).revisions == 1

    inst.deregistered_on = date(2026, 1, 15)  # closed before the quarter ended: no longer expected
    db.flush()
    assert status_of(inst.id) is None
