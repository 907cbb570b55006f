"""《商业银行金融资产风险分类办法》 floors, NPL ratio and 第七条 (reference §4)."""

from __future__ import annotations

import numpy as np
import pytest

from qiantang.standards.loan_class import (
    DAYS_PAST_DUE_FLOORS,
    TECHNICAL_DELAY_DAYS,
    LoanClass,
    apply_floor,
    as_loan_class,
    borrower_npl_contagion,
    check_classification,
    floor_for_days_past_due,
    floor_for_days_past_due_array,
    npl_ratio,
)

BOUNDARIES = [
    (0, LoanClass.NORMAL),
    (1, LoanClass.NORMAL),
    (7, LoanClass.NORMAL),
    (8, LoanClass.SPECIAL_MENTION),
    (90, LoanClass.SPECIAL_MENTION),
    (91, LoanClass.SUBSTANDARD),
    (270, LoanClass.SUBSTANDARD),
    (271, LoanClass.DOUBTFUL),
    (360, LoanClass.DOUBTFUL),
    (361, LoanClass.LOSS),
    (5000, LoanClass.LOSS),
]


def test_enum_properties():
    assert [c.zh for c in LoanClass] == ["正常类", "关注类", "次级类", "可疑类", "损失类"]
    assert [c.rank for c in LoanClass] == [0, 1, 2, 3, 4]
    assert [c.is_npl for c in LoanClass] == [False, False, True, True, True]
    assert LoanClass("substandard") is LoanClass.SUBSTANDARD


def test_floor_data():
    assert TECHNICAL_DELAY_DAYS == 7
    assert DAYS_PAST_DUE_FLOORS == (
        (360, LoanClass.LOSS),
        (270, LoanClass.DOUBTFUL),
        (90, LoanClass.SUBSTANDARD),
        (0, LoanClass.SPECIAL_MENTION),
    )


@pytest.mark.parametrize(("days", "floor"), BOUNDARIES)
def test_floor_boundaries(days, floor):
    assert floor_for_days_past_due(days) is floor


def test_array_floor_agrees_with_scalar():
    days = np.array([d for d, _ in BOUNDARIES] + list(range(0, 800)))
    ranks = floor_for_days_past_due_array(days)
    assert ranks.tolist() == [floor_for_days_past_due(int(d)).rank for d in days]


def test_negative_days_rejected():
    with pytest.raises(ValueError, match="逾期天数不能为负数"):
        floor_for_days_past_due(-1)
    with pytest.raises(ValueError):
        floor_for_days_past_due_array(np.array([3, -1]))


def test_as_loan_class_accepts_chinese_and_values():
    assert as_loan_class("次级类") is LoanClass.SUBSTANDARD
    assert as_loan_class("可疑") is LoanClass.DOUBTFUL
    assert as_loan_class("special_mention") is LoanClass.SPECIAL_MENTION
    with pytest.raises(ValueError, match="未知的风险分类"):
        as_loan_class("坏账")


def test_check_message_when_too_optimistic():
    result = check_classification(LoanClass.SPECIAL_MENTION, 120)
    assert not result.ok
    assert result.floor is LoanClass.SUBSTANDARD
    assert result.message == "逾期 120 天，按规定至少应为次级类，报送为关注类"


def test_check_passes_when_at_or_worse_than_floor():
    assert check_classification("次级", 120).ok
    result = check_classification("loss", 120)
    assert result.ok and "符合要求" in result.message
    assert check_classification(LoanClass.NORMAL, 0).ok


def test_check_within_technical_delay_explains_the_exception():
    result = check_classification(LoanClass.NORMAL, 5)
    assert result.ok
    assert "操作性或事务性原因" in result.message
    assert not check_classification(LoanClass.NORMAL, 8).ok


def test_apply_floor_takes_the_worse():
    assert apply_floor(LoanClass.NORMAL, 100) is LoanClass.SUBSTANDARD
    assert apply_floor("可疑类", 100) is LoanClass.DOUBTFUL
    assert apply_floor(LoanClass.NORMAL, 3) is LoanClass.NORMAL


def test_npl_ratio_hand_computed():
    # (50 + 30 + 20) / 1000 × 100 = 10%.
    balances = {
        "normal": 850,
        LoanClass.SPECIAL_MENTION: 50,
        "次级类": 50,
        "doubtful": 30,
        LoanClass.LOSS: 20,
    }
    assert npl_ratio(balances) == pytest.approx(10.0)
    # 3 / 200 × 100 = 1.5%.
    assert npl_ratio({LoanClass.NORMAL: 197, LoanClass.LOSS: 3}) == pytest.approx(1.5)
    assert npl_ratio({LoanClass.NORMAL: 100}) == 0.0


def test_npl_ratio_empty_or_zero_is_none():
    assert npl_ratio({}) is None
    assert npl_ratio({LoanClass.NORMAL: 0, LoanClass.LOSS: 0}) is None


def test_npl_ratio_rejects_negative():
    with pytest.raises(ValueError):
        npl_ratio({LoanClass.NORMAL: -1})


def test_contagion_exactly_ten_percent_is_not_more():
    assert not borrower_npl_contagion([10, 90], [LoanClass.SUBSTANDARD, LoanClass.NORMAL])
    assert not borrower_npl_contagion([0.1, 0.9], ["substandard", "normal"])


def test_contagion_just_over_ten_percent():
    assert borrower_npl_contagion([10.01, 90], [LoanClass.SUBSTANDARD, LoanClass.NORMAL])
    assert borrower_npl_contagion([11, 89], ["可疑", "关注"])


def test_contagion_edge_cases():
    assert not borrower_npl_contagion([], [])
    assert not borrower_npl_contagion([0, 0], ["loss", "normal"])
    assert not borrower_npl_contagion([50, 50], ["关注", "normal"])
    with pytest.raises(ValueError):
        borrower_npl_contagion([1, 2], ["normal"])
