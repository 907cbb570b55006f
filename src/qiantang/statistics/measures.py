"""The measures of comprehensive statistics, as data: what each one counts or sums, its unit and source.

Stored measures (``kind`` ``count`` or ``sum``) are written as cells by ``service.refresh``; ratio
measures are never stored: they are computed at query time from the sums of their numerator and
denominator cells over whatever the reader selected, so a ratio is always a ratio of sums, never
an average of ratios.

Amounts stay in the filing templates' unit, 万元, as reported; pages show 亿元 where sensible.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Source(StrEnum):
    REGISTRY = "registry"  # institutions and their status history
    FILINGS = "filings"  # the current revision of each period's filings
    DERIVED = "derived"  # a ratio of two stored measures


class Kind(StrEnum):
    COUNT = "count"  # institutions or filings counted at or within the quarter
    SUM = "sum"  # a filing field summed over the period's current filings (a stock at quarter end)
    RATIO = "ratio"  # numerator / denominator, both summed first


@dataclass(frozen=True)
class Measure:
    """One measure.

    Parameters
    ----------
    code: stored in ``stat_cells.measure`` (at most 48 characters).
    name_zh, name_en: labels (Chinese first).
    unit: ``家`` / ``份`` / ``万元`` / ``支`` / ``%``.
    source: registry, filings or derived.
    kind: count, sum or ratio.
    how: one line on how it is computed (shown on the measures API and in the docs).
    template, field: for sums, the filing template and its field code that is summed.
    numerator, denominator: for ratios, the stored measures whose sums are divided.
    """

    code: str
    name_zh: str
    name_en: str
    unit: str
    source: Source
    kind: Kind
    how: str
    template: str | None = None
    field: str | None = None
    numerator: str | None = None
    denominator: str | None = None

    @property
    def stored(self) -> bool:
        return self.kind != Kind.RATIO

    @property
    def is_amount(self) -> bool:
        return self.unit == "万元"

    @property
    def display_unit(self) -> str:
        """The unit on pages and in exports: amounts in 亿元, everything else as stored."""
        return "亿元" if self.is_amount else self.unit

    def unit_name(self, locale: str = "zh_CN") -> str:
        """The display unit in a language (亿元 / CNY 100m, 家 / institutions …)."""
        return self.display_unit if locale == "zh_CN" else UNIT_EN[self.display_unit]

    def name(self, locale: str = "zh_CN") -> str:
        return self.name_zh if locale == "zh_CN" else self.name_en

    def header(self, locale: str = "zh_CN") -> str:
        """Column header with the unit: ``资产总额（亿元）`` / ``Total assets (CNY 100m)``."""
        if locale == "zh_CN":
            return f"{self.name_zh}（{self.display_unit}）"
        return f"{self.name_en} ({self.unit_name(locale)})"

    def display(self, value: float | None) -> float | None:
        """A stored value in the display unit, rounded as shown (2 decimals; counts whole)."""
        if value is None:
            return None
        if self.is_amount:
            return round(value / WAN_PER_YI, 2)
        if self.kind == Kind.RATIO:
            return round(value, 2)
        return float(round(value))

    @property
    def number_format(self) -> str:
        """The Excel number format of the displayed value."""
        return "#,##0" if self.kind != Kind.RATIO and not self.is_amount else "#,##0.00"

    def format(self, shown: float | None) -> str:
        """A value already in the display unit, as text (no unit: the header carries it)."""
        if shown is None:
            return "—"
        return f"{shown:,.0f}" if self.number_format == "#,##0" else f"{shown:,.2f}"

    def text(self, value: float | None) -> str:
        """A stored value as the page shows it."""
        return self.format(self.display(value))

    @property
    def parts(self) -> tuple[str, ...]:
        """The stored measures needed to compute this one."""
        if self.kind == Kind.RATIO:
            return (str(self.numerator), str(self.denominator))
        return (self.code,)

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "unit": self.unit,
            "source": self.source.value,
            "kind": self.kind.value,
            "how": self.how,
            "template": self.template,
            "field": self.field,
            "numerator": self.numerator,
            "denominator": self.denominator,
        }


WAN_PER_YI = 1e4  # 1 亿元 = 10,000 万元
UNIT_EN = {
    "家": "institutions",
    "份": "returns",
    "支": "funds",
    "万元": "CNY 10k",
    "亿元": "CNY 100m",
    "%": "%",
}


def _reg(code: str, zh: str, en: str, how: str) -> Measure:
    return Measure(code, zh, en, "家", Source.REGISTRY, Kind.COUNT, how)


def _fil(code: str, zh: str, en: str, how: str) -> Measure:
    return Measure(code, zh, en, "份", Source.FILINGS, Kind.COUNT, how)


def _sum(template: str | None, field: str, zh: str, en: str, unit: str = "万元") -> Measure:
    code = f"{template}.{field}" if template else field
    where = f"the {template} template's" if template else "every template's"
    return Measure(
        code,
        zh,
        en,
        unit,
        Source.FILINGS,
        Kind.SUM,
        f"Σ {field} over the quarter's current filings ({where} field, {unit} as filed)",
        template=template,
        field=field,
    )


def _ratio(code: str, zh: str, en: str, numerator: str, denominator: str) -> Measure:
    return Measure(
        code,
        zh,
        en,
        "%",
        Source.DERIVED,
        Kind.RATIO,
        f"Σ {numerator} / Σ {denominator} × 100, summed over the selection first",
        numerator=numerator,
        denominator=denominator,
    )


MEASURES: tuple[Measure, ...] = (
    # Registry: institutions and their status history.
    _reg(
        "open",
        "存续机构数",
        "Institutions open",
        "institutions established on or before the quarter end and not deregistered/revoked by it",
    ),
    _reg("entries", "本期设立", "Entries", "institutions whose established_on falls in the quarter"),
    _reg(
        "exits",
        "本期注销/吊销",
        "Exits (deregistered or revoked)",
        "institutions whose deregistered_on (注销 or 吊销) falls in the quarter",
    ),
    _reg(
        "distressed",
        "停业整顿或风险处置中",
        "Suspended or in resolution",
        "open institutions whose latest status change on or before the quarter end left them "
        "suspended (停业整顿) or in resolution (风险处置)",
    ),
    # Filings: the current revision of each period's returns.
    _reg(
        "expected",
        "应报机构数",
        "Filers expected",
        "institutions of a type with a filing template, open at the quarter end",
    ),
    _fil("filed", "已报送", "Filings received", "current filings for the quarter (one per institution)"),
    _fil(
        "filed_late",
        "逾期报送",
        "Filed late",
        "current filings for the quarter submitted after their due date",
    ),
    _sum(None, "total_assets", "资产总额", "Total assets"),
    _sum(None, "equity", "所有者权益", "Equity"),
    _sum("small_loan", "loan_balance", "小额贷款余额", "Small-loan balance"),
    _sum("small_loan", "npl_balance", "小额贷款不良余额", "Small-loan NPL balance"),
    _sum("small_loan", "overdue_1_90", "小额贷款逾期1-90天", "Small loans overdue 1–90 days"),
    _sum("small_loan", "overdue_91_180", "小额贷款逾期91-180天", "Small loans overdue 91–180 days"),
    _sum("small_loan", "overdue_181_360", "小额贷款逾期181-360天", "Small loans overdue 181–360 days"),
    _sum("small_loan", "overdue_over_360", "小额贷款逾期360天以上", "Small loans overdue over 360 days"),
    _sum(
        "financing_guarantee",
        "financing_guarantee_balance",
        "融资担保余额",
        "Financing-guarantee balance",
    ),
    _sum("pawnshop", "pawn_balance", "典当余额", "Pawn balance"),
    _sum("commercial_factoring", "factoring_balance", "保理余额", "Factoring balance"),
    _sum("finance_leasing", "leasing_assets", "融资租赁资产", "Leasing assets"),
    _sum("private_fund_manager", "aum", "私募基金管理规模", "Private-fund AUM"),
    _sum("private_fund_manager", "fund_count", "私募基金数量", "Private funds managed", unit="支"),
    _sum("p2p_lending", "outstanding_balance", "网贷借贷余额", "Online-lending balance outstanding"),
    # Ratios of sums.
    _ratio("filing_rate", "报送率", "Filing rate", "filed", "expected"),
    _ratio("late_rate", "逾期报送率", "Late-filing rate", "filed_late", "filed"),
    _ratio(
        "small_loan.npl_ratio",
        "小额贷款不良率",
        "Small-loan NPL ratio",
        "small_loan.npl_balance",
        "small_loan.loan_balance",
    ),
    _ratio("distressed_rate", "停业整顿或风险处置占比", "Share distressed", "distressed", "open"),
)

BY_CODE: dict[str, Measure] = {m.code: m for m in MEASURES}
STORED: tuple[Measure, ...] = tuple(m for m in MEASURES if m.stored)
FIELD_SUMS: tuple[Measure, ...] = tuple(m for m in MEASURES if m.kind == Kind.SUM)
DEFAULT_PIVOT = ("open", "entries", "exits", "distressed", "filed", "expected", "filing_rate", "total_assets")

assert all(len(m.code) <= 48 for m in MEASURES)
assert all(BY_CODE[p].stored for m in MEASURES for p in m.parts)


def get(code: str) -> Measure:
    """The measure with this code (KeyError if unknown)."""
    return BY_CODE[code]
