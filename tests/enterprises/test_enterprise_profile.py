"""一企一档: the list with grade filter and export, the profile with financials, score and alerts."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import func, select

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.credit import policy as credit_policy
from qiantang.credit.models import CreditScore
from qiantang.enterprises import service
from qiantang.enterprises.models import Enterprise, Guarantee, Loan
from qiantang.enterprises.service import EnterpriseFilters
from qiantang.standards.loan_class import LoanClass

XIHU = "330106"


def a_scored_enterprise(db) -> tuple[Enterprise, CreditScore]:
    row = db.execute(
        select(Enterprise, CreditScore).join(CreditScore, CreditScore.enterprise_id == Enterprise.id).limit(1)
    ).first()
    return row[0], row[1]


def test_profile_shows_basic_data_financials_score_reasons_guarantees_and_alerts(clients, db):
    ent, score = a_scored_enterprise(db)
    html = clients.as_user("analyst").get(f"/enterprises/{ent.uscc}").text
    for testid in ("credit", "grade", "score-history", "financials", "alerts", "credit-report-link"):
        assert f'data-testid="{testid}"' in html, testid
    assert f">{score.grade}<" in html
    assert "对外担保" in html and "接受担保" in html
    signals = service.risk_signals(db, ent=ent)
    for s in signals:
        assert s.title in html
    if not signals:
        assert "没有预警信号" in html


def test_risk_signals_name_non_performing_loans_and_guarantees_behind_them(db):
    """A borrower with a non-performing loan is red; its enterprise guarantor is told a call may come."""
    npl = [c for c in LoanClass if c.is_npl]
    loan = db.scalar(
        select(Loan)
        .join(Guarantee, Guarantee.loan_id == Loan.id)
        .where(Loan.classification.in_(npl), Loan.balance > 0, Guarantee.guarantor_enterprise_id.is_not(None))
        .limit(1)
    )
    assert loan is not None, "the demo has guaranteed non-performing loans"
    borrower = db.get(Enterprise, loan.borrower_id)
    signals = service.risk_signals(db, ent=borrower)
    assert signals[0].level == "red" and signals[0].title == "有不良贷款"
    assert f"{loan.as_of.isoformat()}" in signals[0].source
    guarantor_id = db.scalar(
        select(Guarantee.guarantor_enterprise_id).where(
            Guarantee.loan_id == loan.id, Guarantee.guarantor_enterprise_id.is_not(None)
        )
    )
    titles = [s.title for s in service.risk_signals(db, ent=db.get(Enterprise, guarantor_id))]
    assert "为不良贷款提供担保" in titles
    levels = [s.level for s in signals]
    assert levels == sorted(levels, key={"red": 0, "orange": 1, "yellow": 2}.get)  # worst first


def test_a_firm_without_loans_guarantees_or_a_poor_grade_has_no_signals(db):
    names = credit_policy.grade_names()
    firm = db.scalar(
        select(Enterprise)
        .join(CreditScore, CreditScore.enterprise_id == Enterprise.id)
        .where(
            CreditScore.grade.in_(names[:6]),
            ~Enterprise.id.in_(select(Loan.borrower_id)),
            ~Enterprise.id.in_(
                select(Guarantee.guarantor_enterprise_id).where(
                    Guarantee.guarantor_enterprise_id.is_not(None)
                )
            ),
            ~Enterprise.id.in_(select(Guarantee.borrower_id)),
        )
        .limit(1)
    )
    assert firm is not None
    assert service.risk_signals(db, ent=firm) == []


def test_list_filters_by_grade_and_shows_scores(clients, db):
    _ent, score = a_scored_enterprise(db)
    c = clients.as_user("analyst")
    html = c.get(f"/enterprises?grade={score.grade}").text
    assert f'data-grade="{score.grade}"' in html
    grades = set(__import__("re").findall(r'data-grade="([A-Z]+)"', html))
    assert grades == {score.grade}
    rows, total = service.list_enterprises(
        db, scope=Scope(role=Role.CITY_ADMIN), filters=EnterpriseFilters(grade=score.grade), limit=5
    )
    expected = db.scalar(
        select(func.count())
        .select_from(CreditScore)
        .where(
            CreditScore.grade == score.grade,
            CreditScore.model_id == score.model_id,
            CreditScore.as_of == score.as_of,
        )
    )
    assert total == expected and rows
    scores = service.current_scores(db, enterprise_ids=[r.id for r in rows])
    assert {s.grade for s in scores.values()} == {score.grade}


def test_district_officer_sees_only_own_district_with_grades(db):
    scope = Scope(role=Role.DISTRICT_OFFICER, district_code=XIHU)
    _ent, score = a_scored_enterprise(db)
    rows, _ = service.list_enterprises(
        db, scope=scope, filters=EnterpriseFilters(grade=score.grade), limit=10_000
    )
    assert {r.district_code for r in rows} <= {XIHU}


def test_export_has_score_grade_and_pd(clients, db):
    r = clients.as_user("analyst").get("/enterprises/export?size=micro")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    header = next(row for row in rows if row and row[0] in ("USCC", "统一社会信用代码"))
    start = rows.index(header)
    data = rows[start + 1 :]
    assert len(header) == 16 and data
    assert any(row[13] for row in data)  # grades present


def test_detail_api_has_financials_by_year(clients, db):
    ent, _ = a_scored_enterprise(db)
    body = clients.as_user("admin").get(f"/api/v1/enterprises/{ent.uscc}").json()
    years = [f["year"] for f in body["financials"]]
    assert years == sorted(years) and years[-1] == body["financials_year"]
    assert body["financials"][-1]["revenue"] == body["revenue"]


def test_reporters_see_no_enterprise(clients, db):
    ent, _ = a_scored_enterprise(db)
    c = clients.as_user("reporter")
    assert c.get(f"/enterprises/{ent.uscc}").status_code == 403
    assert c.get("/api/v1/enterprises").status_code == 403


def test_mutual_guarantee_whose_reverse_ended_is_labelled_one_way(clients, db):
    """A relation recorded as 互保 is mutual only while both directions are in force (as the network
    counts it); the profile and the credit report label it by what is in force."""
    from datetime import timedelta

    from qiantang.credit.report import guarantee_exposure
    from qiantang.enterprises.models import GuaranteeKind

    as_of = db.scalar(select(func.max(Loan.as_of)))
    a, b = db.scalars(
        select(Enterprise)
        .where(
            Enterprise.deregistered_on.is_(None),
            ~Enterprise.id.in_(select(Guarantee.borrower_id)),
            ~Enterprise.id.in_(
                select(Guarantee.guarantor_enterprise_id).where(
                    Guarantee.guarantor_enterprise_id.is_not(None)
                )
            ),
        )
        .order_by(Enterprise.id)
        .limit(2)
    ).all()
    start = as_of - timedelta(days=700)
    forward = Guarantee(
        guarantor_enterprise_id=a.id,
        borrower_id=b.id,
        amount=1_000_000,
        kind=GuaranteeKind.MUTUAL,
        start_date=start,
        end_date=as_of + timedelta(days=300),
    )
    reverse = Guarantee(
        guarantor_enterprise_id=b.id,
        borrower_id=a.id,
        amount=1_000_000,
        kind=GuaranteeKind.MUTUAL,
        start_date=start,
        end_date=as_of - timedelta(days=30),
    )
    db.add_all([forward, reverse])
    db.flush()
    rows = service.enterprise_guarantees(db, enterprise_id=a.id)
    given = next(r for r in rows["given"] if r.guarantee.id == forward.id)
    received = next(r for r in rows["received"] if r.guarantee.id == reverse.id)
    assert given.in_force and given.lapsed_mutual
    assert not received.in_force and not received.lapsed_mutual
    assert not guarantee_exposure(db, enterprise_id=a.id, as_of=as_of)["mutual"]
    html = clients.as_user("analyst").get(f"/enterprises/{a.uscc}").text
    assert "单向（反向担保已到期）" in html and "已不在保" in html
    # While both directions are in force it is mutual.
    reverse.end_date = as_of + timedelta(days=30)
    db.flush()
    rows = service.enterprise_guarantees(db, enterprise_id=a.id)
    assert not next(r for r in rows["given"] if r.guarantee.id == forward.id).lapsed_mutual
    assert guarantee_exposure(db, enterprise_id=a.id, as_of=as_of)["mutual"]


def test_profile_and_credit_report_say_on_which_date_they_give_the_firm_age(clients, db):
    from datetime import date

    ent, _score = a_scored_enterprise(db)
    c = clients.as_user("analyst")
    today = date.today()
    profile = c.get(f"/enterprises/{ent.uscc}").text
    assert f"截至 {today.isoformat()} 已成立 {service.age_years(ent, today):.1f} 年" in profile
    report = c.get(f"/enterprises/{ent.uscc}/credit-report").text
    as_of = db.scalar(select(func.max(CreditScore.as_of)).where(CreditScore.enterprise_id == ent.id))
    assert f"截至评分基准日 {as_of.isoformat()} 已成立 {service.age_years(ent, as_of):.1f} 年" in report


def test_overview_and_list_say_what_their_enterprise_counts_count(clients, db):
    import re

    c = clients.as_user("admin")
    overview = c.get("/").text
    card = overview.split('data-testid="card-enterprises"')[1].split("</div>\n  </div>")[0]
    shown = int(re.search(r'class="v">([\d,]+)<', card).group(1).replace(",", ""))
    operating = db.scalar(select(func.count()).where(Enterprise.deregistered_on.is_(None)))
    registered = db.scalar(select(func.count()).select_from(Enterprise))
    assert shown == operating and "在营企业（不含已注销）" in card
    listing = c.get("/enterprises").text
    assert f"共 {registered} 条" in listing or f"共 {registered:,} 条" in listing
    assert "含已注销企业" in listing
