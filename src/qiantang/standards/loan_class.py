"""Five-tier risk classification of 《商业银行金融资产风险分类办法》 (银保监会、人民银行令〔2023〕第1号).

Dated 2023-02-10, effective 2023-07-01. Facts: docs/reference/standards.md §4. Only the
days-past-due floors, the NPL ratio and 第七条 are encoded; the qualitative triggers (credit impairment,
rating cuts, 借新还旧 …) need judgement and are left to the reviewer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

CLASSIFICATION_RULE = "《商业银行金融资产风险分类办法》（银保监会、人民银行令〔2023〕第1号）"


class LoanClass(StrEnum):
    """第六条 five categories, best to worst."""

    NORMAL = "normal"
    SPECIAL_MENTION = "special_mention"
    SUBSTANDARD = "substandard"
    DOUBTFUL = "doubtful"
    LOSS = "loss"

    @property
    def zh(self) -> str:
        """Chinese name: 正常类 … 损失类."""
        return _LOAN_CLASS_ZH[self]

    @property
    def rank(self) -> int:
        """0 (正常) to 4 (损失); a higher rank is a worse class."""
        return _LOAN_CLASS_ORDER.index(self)

    @property
    def is_npl(self) -> bool:
        """Whether the class is 不良 (第六条: 次级、可疑、损失 合称不良资产)."""
        return self.rank >= LoanClass.SUBSTANDARD.rank


_LOAN_CLASS_ORDER = tuple(LoanClass)
_LOAN_CLASS_ZH = {
    LoanClass.NORMAL: "正常类",
    LoanClass.SPECIAL_MENTION: "关注类",
    LoanClass.SUBSTANDARD: "次级类",
    LoanClass.DOUBTFUL: "可疑类",
    LoanClass.LOSS: "损失类",
}

# 关注类 trigger: overdue, "操作性或事务性原因造成的短期逾期除外" — up to 7 days ✅ (reference §4).
TECHNICAL_DELAY_DAYS = 7
# "逾期超过 N 天 → 至少归为 class" ✅ for the day counts (reference §4). The article numbers are not in the
# reference; from memory they are 第十一条 (关注), 第十二条 (次级), 第十三条 (可疑), 第十四条 (损失) ❓.
DAYS_PAST_DUE_FLOORS: tuple[tuple[int, LoanClass], ...] = (
    (360, LoanClass.LOSS),
    (270, LoanClass.DOUBTFUL),
    (90, LoanClass.SUBSTANDARD),
    (0, LoanClass.SPECIAL_MENTION),  # subject to TECHNICAL_DELAY_DAYS
)
# 第七条 ✅: more than 10% of a non-retail borrower's claims at the bank are 不良 → all of them are 不良.
CONTAGION_SHARE_PERCENT = 10
# Relative tolerance so that a share that is 10% up to float rounding is not "more than 10%".
_SHARE_TOLERANCE = 1e-9
# 《商业银行风险监管核心指标（试行）》: 不良贷款率 ≤ 5% ✅.
NPL_RATIO_LIMIT_PERCENT = 5.0


@dataclass(frozen=True)
class ClassCheck:
    """Whether a reported class respects the days-past-due floor."""

    reported: LoanClass
    floor: LoanClass
    ok: bool
    message: str


def as_loan_class(value: LoanClass | str) -> LoanClass:
    """Accept an enum, its value ("substandard") or the Chinese name with or without 类 ("次级类", "次级")."""
    if isinstance(value, LoanClass):
        return value
    text = value.strip()
    for cls in LoanClass:
        if text in (cls.value, cls.name, cls.zh, cls.zh.removesuffix("类")):
            return cls
    raise ValueError(f"未知的风险分类：“{value}”（应为正常、关注、次级、可疑、损失之一）")


def _effective_threshold(days_over: int) -> int:
    """A short technical delay (≤ 7 days) does not count as overdue for any floor."""
    return max(days_over, TECHNICAL_DELAY_DAYS)


def _validate_days(days: int) -> None:
    """Reject negative day counts."""
    if days < 0:
        raise ValueError(f"逾期天数不能为负数：{days}")


def floor_for_days_past_due(days: int) -> LoanClass:
    """The least-bad class allowed: >360 损失, >270 可疑, >90 次级, >7 关注, else 正常.

    1–7 days return 正常 because a short delay for operational reasons is exempt; a longer-than-
    technical reason for a 1–7 day delay still makes it 关注, which only the reviewer can judge.
    """
    _validate_days(days)
    for days_over, cls in DAYS_PAST_DUE_FLOORS:
        if days > _effective_threshold(days_over):
            return cls
    return LoanClass.NORMAL


def floor_for_days_past_due_array(days: np.ndarray) -> np.ndarray:
    """Vectorised floor_for_days_past_due returning ranks (0 正常 … 4 损失)."""
    array = np.asarray(days)
    if np.any(array < 0):
        raise ValueError("逾期天数不能为负数")
    ranks = np.zeros(array.shape, dtype=np.int64)
    # Apply the mildest floor first so that worse floors overwrite it.
    for days_over, cls in reversed(DAYS_PAST_DUE_FLOORS):
        ranks[array > _effective_threshold(days_over)] = cls.rank
    return ranks


def apply_floor(reported: LoanClass | str, days_past_due: int) -> LoanClass:
    """The worse of the reported class and the days-past-due floor."""
    reported_class = as_loan_class(reported)
    floor = floor_for_days_past_due(days_past_due)
    return max(reported_class, floor, key=lambda c: c.rank)


def _check_message(reported: LoanClass, floor: LoanClass, days: int) -> str:
    """Chinese explanation of a classification check."""
    if reported.rank < floor.rank:
        return f"逾期 {days} 天，按规定至少应为{floor.zh}，报送为{reported.zh}"
    if 0 < days <= TECHNICAL_DELAY_DAYS and reported is LoanClass.NORMAL:
        return (
            f"逾期 {days} 天，在 {TECHNICAL_DELAY_DAYS} 天内，仅当属操作性或事务性原因造成的短期逾期时"
            "可保持正常类，否则至少应为关注类"
        )
    return f"逾期 {days} 天，最低应为{floor.zh}，报送为{reported.zh}，符合要求"


def check_classification(reported: LoanClass | str, days_past_due: int) -> ClassCheck:
    """Check that the reported class is no better than the days-past-due floor."""
    reported_class = as_loan_class(reported)
    floor = floor_for_days_past_due(days_past_due)
    ok = reported_class.rank >= floor.rank
    return ClassCheck(reported_class, floor, ok, _check_message(reported_class, floor, days_past_due))


def _validate_balances(balances: Sequence[float]) -> None:
    """Reject negative balances."""
    if any(b < 0 for b in balances):
        raise ValueError("余额不能为负数")


def npl_ratio(balance_by_class: Mapping[LoanClass | str, float]) -> float | None:
    """不良贷款率 in percent = (次级 + 可疑 + 损失) / 各项贷款 × 100; None when the total is 0."""
    by_class = [(as_loan_class(k), v) for k, v in balance_by_class.items()]
    _validate_balances([v for _, v in by_class])
    total = math.fsum(v for _, v in by_class)
    if total == 0:
        return None
    return math.fsum(v for cls, v in by_class if cls.is_npl) / total * 100


def borrower_npl_contagion(balances: Sequence[float], classes: Sequence[LoanClass | str]) -> bool:
    """第七条: True if more than 10% of a non-retail borrower's claims at one bank are 不良.

    Then all of its claims at that bank should be 不良. The caller must pass only non-retail borrowers'
    claims at one bank; the exemption for 国务院金融管理部门-approved credit enhancement is not modelled.
    """
    if len(balances) != len(classes):
        raise ValueError("余额与分类的个数不一致")
    _validate_balances(balances)
    total = math.fsum(balances)
    npl = math.fsum(b for b, c in zip(balances, classes, strict=True) if as_loan_class(c).is_npl)
    excess = npl * 100 - total * CONTAGION_SHARE_PERCENT
    return total > 0 and excess > _SHARE_TOLERANCE * total * CONTAGION_SHARE_PERCENT
