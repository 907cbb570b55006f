"""Name lists: the criteria select exactly the good-grade firms without a loan; a push reaches only the
chosen lenders; each lender sees and answers only its own; the city sees every answer."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from qiantang.auth.models import User
from qiantang.auth.scope import Scope
from qiantang.credit.models import CreditScore
from qiantang.credit.service import current_runs
from qiantang.enterprises.models import Enterprise, Loan
from qiantang.errors import Forbidden, ValidationFailed
from qiantang.matching import namelists as svc
from qiantang.matching.models import NameListEntry, Product

TODAY = date.today()


def expected(db) -> set[int]:
    """The list's rule written out plainly: grade A or better in a current run, no loan, not deregistered."""
    graded = set()
    for model_id, latest in current_runs(db):
        graded |= set(
            db.scalars(
                select(CreditScore.enterprise_id).where(
                    CreditScore.model_id == model_id,
                    CreditScore.as_of == latest,
                    CreditScore.grade.in_(["AAA", "AA", "A"]),
                )
            )
        )
    loans = set(db.scalars(select(Loan.borrower_id).where(Loan.start_date <= TODAY)))
    gone = set(db.scalars(select(Enterprise.id).where(Enterprise.deregistered_on.is_not(None))))
    return graded - loans - gone - excluded(db, graded)


def excluded(db, ids) -> set[int]:
    """Firms the matching's firm-level rules leave out today: on the 失信 list, or graded red."""
    from qiantang.fundraising.service import risk_flags

    return {e for e, f in risk_flags(db, ids, TODAY).items() if f.dishonest or f.grade == "red"}


def test_first_loan_candidates_are_exactly_the_criteria(db):
    rows = svc.candidates(db, code="first_loan", scope=Scope.system(), as_of=TODAY)
    want = expected(db)
    assert {r["enterprise_id"] for r in rows} <= want
    assert len(rows) == min(len(want), svc.spec("first_loan")["limit"])
    for r in rows[:5]:
        assert r["grade"] in ("AAA", "AA", "A") and "信用等级" in r["why"] and "无银行贷款" in r["why"]


def test_push_reaches_only_the_chosen_lenders_who_answer_only_their_own(db):
    rows = svc.candidates(db, code="first_loan", scope=Scope.system(), as_of=TODAY)
    if not rows:
        pytest.skip("the tiny demo has no first-loan candidates")
    lender = db.scalar(select(User).where(User.username == "lender"))
    other = db.scalar(select(Product.institution_id).where(Product.institution_id != lender.institution_id))
    admin = db.scalar(select(User).where(User.username == "admin"))
    with pytest.raises(ValidationFailed):
        svc.push(db, code="first_loan", institution_ids=[], scope=Scope.system(), actor=admin, as_of=TODAY)
    two = [r["enterprise_id"] for r in rows[:2]]
    pushed = svc.push(
        db,
        code="first_loan",
        institution_ids=[lender.institution_id, other],
        enterprise_ids=two,
        scope=Scope.system(),
        actor=admin,
        as_of=TODAY,
    )
    assert pushed.criteria["grades"] == ["AAA", "AA", "A"]
    mine = svc.entries(db, scope=Scope.for_user(lender), push_id=pushed.id)
    assert {e.institution_id for e in mine} == {lender.institution_id}
    assert {e.enterprise_id for e in mine} == set(two)
    assert len(svc.entries(db, scope=Scope.system(), push_id=pushed.id)) == 2 * len(two)
    theirs = db.scalar(
        select(NameListEntry).where(NameListEntry.push_id == pushed.id, NameListEntry.institution_id == other)
    )
    with pytest.raises(Forbidden):
        svc.respond(
            db, entry_id=theirs.id, institution_id=lender.institution_id, actor=lender, response="contacted"
        )
    with pytest.raises(ValidationFailed):
        svc.respond(
            db,
            entry_id=mine[0].id,
            institution_id=lender.institution_id,
            actor=lender,
            response="not_interested",
        )
    svc.respond(
        db,
        entry_id=mine[0].id,
        institution_id=lender.institution_id,
        actor=lender,
        response="not_interested",
        reason="已有他行授信意向",
    )
    svc.respond(
        db, entry_id=mine[-1].id, institution_id=lender.institution_id, actor=lender, response="contacted"
    )
    counts = next(p["counts"] for p in svc.pushes(db) if p["push"].id == pushed.id)
    assert counts == {"pending": 2, "contacted": 1, "not_interested": 1} or len(two) == 1


def test_pages_keep_each_lender_to_its_own(clients, db):
    admin = clients.as_user("admin")
    assert admin.get("/matching/namelists").status_code == 200
    page = admin.get("/matching/namelists/first_loan")
    assert page.status_code == 200 and 'data-testid="namelist-preview"' in page.text
    assert clients.as_user("lender").get("/matching/namelists/first_loan").status_code == 403
    assert clients.as_user("firm").get("/matching/namelists").status_code == 403
    assert clients.as_user("xihu").get("/matching/namelists").status_code == 403
    r = admin.post("/matching/namelists/first_loan/push", data={})
    assert r.status_code == 422 and "请至少选择一家机构" in r.text
    rows = svc.candidates(db, code="first_loan", scope=Scope.system(), as_of=TODAY)
    if not rows:
        return
    lender = db.scalar(select(User).where(User.username == "lender"))
    other = db.scalar(select(Product.institution_id).where(Product.institution_id != lender.institution_id))
    r = admin.post(
        "/matching/namelists/first_loan/push",
        data={"institution_id": [str(other)], "some": "1", "enterprise_id": [str(rows[0]["enterprise_id"])]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    url = r.headers["location"]
    assert clients.as_user("lender").get(url).status_code == 404  # nothing of it was pushed to this lender
    assert rows[0]["name"] in admin.get(url).text
