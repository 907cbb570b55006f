"""Products: validation by field on both sides of each bound, versions, approval, and who edits what."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from qiantang.auth.models import User
from qiantang.errors import ValidationFailed
from qiantang.matching import products as svc
from qiantang.matching import service
from qiantang.matching.models import Product, ProductStatus, ProductVersion


def good(**kw):
    raw = {
        "name": "科创信用贷",
        "kind": "credit",
        "min_amount_wan": "50",
        "max_amount_wan": "500",
        "min_term_months": "6",
        "max_term_months": "36",
        "min_spread_bp": "-20",
        "max_spread_bp": "150",
        "sizes": ["small", "micro"],
        "industries": ["制造业"],
        "districts": ["西湖区"],
        "min_age_years": "1",
        "collateral": [],
        "policy_tags": ["科技", "普惠"],
        "documents": "营业执照\n近两年财务报表",
        "promise_contact_days": "2",
        "promise_decision_days": "10",
    }
    raw.update(kw)
    return raw


def errors_of(db, **kw) -> dict[str, str]:
    _values, errors = svc.check_product(db, good(**kw))
    return {e.column: e.message for e in errors}


def test_a_good_product_passes_and_names_become_codes(db):
    values, errors = svc.check_product(db, good())
    assert errors == []
    assert values["min_amount"] == 500_000 and values["max_amount"] == 5_000_000
    assert values["industries"] == ["C"] and values["districts"] == ["330106"]
    assert values["documents"] == ["营业执照", "近两年财务报表"]


@pytest.mark.parametrize(
    ("field", "inside", "outside", "column"),
    [
        ({"min_amount_wan": "500"}, True, {"min_amount_wan": "500.01"}, "金额上限（万元）"),
        ({"min_amount_wan": "0.01"}, True, {"min_amount_wan": "0"}, "金额下限（万元）"),
        ({"min_term_months": "36"}, True, {"min_term_months": "37"}, "最长期限（月）"),
        ({"max_term_months": "360"}, True, {"max_term_months": "361"}, "最长期限（月）"),
        ({"min_term_months": "1"}, True, {"min_term_months": "0"}, "最短期限（月）"),
        ({"min_spread_bp": "150"}, True, {"min_spread_bp": "151"}, "利率上限（LPR 加点，基点）"),
        ({"min_spread_bp": "-300"}, True, {"min_spread_bp": "-301"}, "利率下限（LPR 加点，基点）"),
        ({"promise_contact_days": "1"}, True, {"promise_contact_days": "0"}, "承诺首次对接（工作日）"),
        ({"promise_decision_days": "60"}, True, {"promise_decision_days": "61"}, "承诺审批决定（工作日）"),
        ({"min_age_years": "0"}, True, {"min_age_years": "-1"}, "最短成立年限（年）"),
        ({"industries": ["信息传输、软件和信息技术服务业"]}, True, {"industries": ["软件"]}, "适用行业"),
        ({"districts": ["330106"]}, True, {"districts": ["火星区"]}, "服务区县"),
        ({"collateral": ["房产土地抵押"]}, True, {"collateral": ["黄金"]}, "接受的担保方式"),
        ({"policy_tags": ["绿色"]}, True, {"policy_tags": ["环保"]}, "政策标签"),
        ({"documents": "营业执照"}, True, {"documents": "很" * 61}, "所需材料"),
        ({"kind": "tech"}, True, {"kind": "loan"}, "产品类型"),
    ],
)
def test_each_field_on_both_sides_of_its_bound(db, field, inside, outside, column):
    assert errors_of(db, **field) == {}
    found = errors_of(db, **outside)
    assert column in found, found
    assert all("\u4e00" <= ch <= "\u9fff" for ch in found[column][:1])  # a Chinese message


def test_every_error_at_once_and_nothing_saved(db):
    before = db.scalar(select(Product.id).order_by(Product.id.desc()))
    with pytest.raises(ValidationFailed) as exc:
        svc.create_product(
            db, raw=good(name="", min_amount_wan="x", min_term_months=""), institution_id=1, actor=None
        )
    columns = {e.column for e in exc.value.errors}
    assert {"产品名称", "金额下限（万元）", "最短期限（月）"} <= columns
    assert db.scalar(select(Product.id).order_by(Product.id.desc())) == before


def lender(db) -> User:
    return db.scalar(select(User).where(User.username == "lender"))


def test_new_product_waits_edits_keep_the_live_version_and_history_diffs(db):
    user = lender(db)
    admin = db.scalar(select(User).where(User.username == "admin"))
    p = svc.create_product(db, raw=good(), institution_id=user.institution_id, actor=user)
    assert p.status == ProductStatus.PENDING
    assert p.id not in set(service.products_frame(db)["id"])  # not matched before approval
    with pytest.raises(ValidationFailed):
        svc.review(db, product=p, actor=admin, approved=False, reason=" ")  # a rejection needs a reason
    svc.review(db, product=p, actor=admin, approved=True)
    assert p.status == ProductStatus.APPROVED and p.version == 1 and p.approved_by == "admin"
    assert p.id in set(service.products_frame(db)["id"])
    # an edit: version 2 waits; firms are still matched against version 1
    v2 = svc.edit_product(db, product=p, raw=good(max_amount_wan="800"), actor=user)
    assert v2.version == 2 and v2.state == "pending"
    assert p.status == ProductStatus.APPROVED and p.max_amount == 5_000_000
    row = service.products_frame(db).set_index("id").loc[p.id]
    assert row["max_amount"] == 5_000_000
    # rejected with a reason: still version 1
    svc.review(db, product=p, actor=admin, approved=False, reason="上限过高，请说明依据")
    assert p.max_amount == 5_000_000 and p.version == 1
    # edited again and approved: version 3 is live
    svc.edit_product(db, product=p, raw=good(max_amount_wan="600", sizes=["small"]), actor=user)
    svc.review(db, product=p, actor=admin, approved=True)
    assert p.version == 3 and p.max_amount == 6_000_000 and p.sizes == ["small"]
    hist = svc.history(db, product=p)
    assert [h["version"].version for h in hist] == [3, 2, 1]
    assert [h["version"].state for h in hist] == ["approved", "rejected", "approved"]
    assert hist[1]["version"].reason == "上限过高，请说明依据"
    changes = {c["field"]: (c["before"], c["after"]) for c in hist[0]["changes"]}
    assert changes["金额上限"] == ("800 万元", "600 万元")
    assert changes["适用企业规模"] == ("小型、微型", "小型")
    assert db.scalar(select(ProductVersion.saved_by).where(ProductVersion.product_id == p.id)) == "lender"


def test_a_second_edit_before_approval_replaces_the_first(db):
    user = lender(db)
    admin = db.scalar(select(User).where(User.username == "admin"))
    p = svc.create_product(db, raw=good(), institution_id=user.institution_id, actor=user)
    svc.edit_product(db, product=p, raw=good(name="科创信用贷（二）"), actor=user)
    assert p.name == "科创信用贷（二）"  # never approved: the row holds the draft
    states = dict(
        db.execute(
            select(ProductVersion.version, ProductVersion.state).where(ProductVersion.product_id == p.id)
        ).all()
    )
    assert states == {1: "superseded", 2: "pending"}
    svc.review(db, product=p, actor=admin, approved=False, reason="材料清单不全")
    assert p.status == ProductStatus.DRAFT
