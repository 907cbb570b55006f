"""Enterprises of the demo city (一企一档): industry, district, size, age, codes and listing status.

All columns are drawn as NumPy arrays; nothing loops per firm, so a million firms take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qiantang.demo import calibration as cal
from qiantang.demo.calendar import AS_OF, day, random_day_in_year, years_of
from qiantang.demo.codes import make_usccs
from qiantang.demo.names import SYLLABLES, draw_trade_codes, trade_names
from qiantang.demo.places import (
    COUNTIES,
    DISTRICT_SHORT,
    DISTRICTS,
    ENTERPRISE_DISTRICT_WEIGHTS,
    issuing_areas,
)
from qiantang.standards.sme_size import classify_size_array, sector_for_industry

# GB/T 4754-2017 section → (share of firms %, [(code, weight, name words)]). Real estate (K) is coded at
# the group level (701 开发经营, 702 物业管理 …) because the size rule differs between groups.
INDUSTRIES: dict[str, tuple[float, list[tuple[str, float, tuple[str, ...]]]]] = {
    "A": (
        1.0,
        [
            ("01", 0.5, ("农业开发", "生态农业", "茶业", "果蔬")),
            ("02", 0.15, ("林业", "苗木")),
            ("03", 0.15, ("牧业", "养殖")),
            ("04", 0.1, ("水产", "渔业")),
            ("05", 0.1, ("农业科技", "农机服务")),
        ],
    ),
    "B": (0.1, [("10", 1.0, ("矿业", "石材"))]),
    "C": (
        12.0,
        [
            ("13", 0.04, ("食品", "粮油")),
            ("14", 0.04, ("食品",)),
            ("15", 0.03, ("茶业", "饮品", "酒业")),
            ("17", 0.08, ("纺织", "丝绸", "印染")),
            ("18", 0.08, ("服饰", "服装")),
            ("19", 0.02, ("鞋业", "皮革")),
            ("20", 0.02, ("木业",)),
            ("21", 0.03, ("家具",)),
            ("22", 0.03, ("纸业", "包装")),
            ("23", 0.03, ("印刷", "包装印刷")),
            ("24", 0.02, ("工艺品", "文体用品")),
            ("26", 0.05, ("化工", "新材料")),
            ("27", 0.03, ("医药", "生物医药", "药业")),
            ("28", 0.02, ("化纤",)),
            ("29", 0.05, ("塑胶", "橡塑", "塑业")),
            ("30", 0.04, ("建材", "新型建材")),
            ("32", 0.01, ("铜业", "铝业")),
            ("33", 0.07, ("五金", "金属制品")),
            ("34", 0.08, ("机械", "机电", "设备")),
            ("35", 0.06, ("装备", "精密机械", "智能装备")),
            ("36", 0.03, ("汽车零部件", "汽配")),
            ("37", 0.01, ("船舶", "航空科技")),
            ("38", 0.06, ("电气", "电器", "电机")),
            ("39", 0.06, ("电子", "通信技术", "光电")),
            ("40", 0.03, ("仪器仪表", "仪器")),
            ("41", 0.01, ("制品",)),
            ("42", 0.01, ("再生资源",)),
            ("43", 0.01, ("设备维修",)),
        ],
    ),
    "D": (0.3, [("44", 0.6, ("电力", "新能源", "热电")), ("45", 0.2, ("燃气",)), ("46", 0.2, ("水务",))]),
    "E": (
        5.0,
        [
            ("47", 0.35, ("建设", "建筑")),
            ("48", 0.2, ("市政工程", "路桥")),
            ("49", 0.15, ("安装工程", "机电安装")),
            ("50", 0.3, ("装饰工程", "装饰设计")),
        ],
    ),
    "F": (
        30.0,
        [
            ("51", 0.55, ("贸易", "商贸", "进出口", "供应链管理")),
            ("52", 0.45, ("商贸", "百货", "超市", "电子商务")),
        ],
    ),
    "G": (
        3.0,
        [
            ("54", 0.55, ("物流", "运输", "货运")),
            ("55", 0.03, ("航运",)),
            ("58", 0.2, ("货运代理", "国际货运代理")),
            ("59", 0.15, ("仓储", "仓储服务")),
            ("60", 0.07, ("快递", "速递")),
        ],
    ),
    "H": (3.0, [("61", 0.25, ("酒店管理", "民宿")), ("62", 0.75, ("餐饮管理", "餐饮"))]),
    "I": (
        10.0,
        [
            ("63", 0.05, ("通信", "信息传输")),
            ("64", 0.3, ("网络科技", "互联网科技")),
            ("65", 0.65, ("科技", "信息技术", "软件", "数字科技", "智能科技")),
        ],
    ),
    "K": (
        3.0,
        [
            ("701", 0.5, ("房地产开发", "置业")),
            ("702", 0.35, ("物业管理", "物业服务")),
            ("703", 0.1, ("房地产经纪", "房产营销策划")),
            ("709", 0.05, ("房地产",)),
        ],
    ),
    "L": (
        15.0,
        [
            ("71", 0.08, ("租赁", "设备租赁")),
            (
                "72",
                0.92,
                ("企业管理", "企业管理咨询", "商务咨询", "文化传媒", "广告", "人力资源", "会展服务", "实业"),
            ),
        ],
    ),
    "M": (
        10.0,
        [
            ("73", 0.15, ("生物科技", "研究院")),
            ("74", 0.35, ("工程设计", "检测技术", "勘测", "建筑设计")),
            ("75", 0.5, ("科技", "技术服务", "科技发展")),
        ],
    ),
    "N": (0.7, [("77", 0.6, ("环境科技", "环保工程")), ("78", 0.4, ("园林绿化", "市政设施管理"))]),
    "O": (
        2.0,
        [
            ("80", 0.5, ("家政服务", "美容美发")),
            ("81", 0.35, ("汽车维修", "电器维修")),
            ("82", 0.15, ("保洁服务",)),
        ],
    ),
    "P": (0.5, [("83", 1.0, ("教育科技", "培训"))]),
    "Q": (0.5, [("84", 0.7, ("医疗管理", "门诊部")), ("85", 0.3, ("养老服务",))]),
    "R": (
        2.5,
        [
            ("86", 0.15, ("文化出版",)),
            ("87", 0.3, ("影视文化", "传媒")),
            ("88", 0.2, ("文化艺术",)),
            ("89", 0.15, ("体育发展",)),
            ("90", 0.2, ("娱乐",)),
        ],
    ),
}
SECTION_CODES = tuple(INDUSTRIES)
# Size drivers per section: median employees, log-s.d. of employees, revenue per employee (万元),
# assets / revenue.
SIZE_DRIVERS: dict[str, tuple[float, float, float, float]] = {
    "A": (6, 1.0, 20, 1.5),
    "B": (25, 1.0, 50, 2.0),
    "C": (12, 1.3, 45, 1.0),
    "D": (30, 1.3, 120, 3.0),
    "E": (8, 1.3, 50, 1.0),
    "F": (3, 1.0, 60, 0.6),
    "G": (6, 1.1, 35, 1.0),
    "H": (5, 1.0, 12, 0.8),
    "I": (5, 1.3, 30, 1.0),
    "K": (6, 1.2, 120, 4.0),
    "L": (3, 1.1, 25, 1.5),
    "M": (4, 1.2, 25, 1.0),
    "N": (8, 1.0, 18, 2.0),
    "O": (3, 0.9, 10, 0.6),
    "P": (6, 1.0, 8, 1.0),
    "Q": (8, 1.0, 12, 1.0),
    "R": (4, 1.0, 15, 1.0),
}
# Share of 高新技术企业 among firms of a section (more in manufacturing, IT and R&D).
HIGH_TECH: dict[str, float] = {"C": 0.22, "I": 0.24, "M": 0.2, "D": 0.07, "N": 0.06, "E": 0.02}
# District tilt per section (manufacturing out east and in the counties, IT in 滨江/余杭/西湖).
_TILT: dict[str, dict[str, float]] = {
    "C": {
        "330109": 2.0,
        "330114": 2.2,
        "330113": 1.8,
        "330111": 1.8,
        "330122": 1.5,
        "330102": 0.3,
        "330105": 0.4,
        "330106": 0.4,
    },
    "I": {"330108": 3.0, "330110": 2.0, "330106": 1.8, "330127": 0.3, "330182": 0.3, "330122": 0.4},
    "M": {"330108": 2.0, "330110": 1.6, "330106": 1.6},
    "A": {
        "330127": 4.0,
        "330182": 4.0,
        "330122": 3.0,
        "330112": 3.0,
        "330111": 2.0,
        "330102": 0.1,
        "330105": 0.1,
        "330106": 0.3,
        "330108": 0.1,
    },
}
# Listing dates: exchange listings by year (118 by end-2015, 260 by end-2021 as in hangzhou-actuals.csv).
_LISTINGS_BEFORE_2016 = {y: w for y, w in zip(range(1994, 2016), np.linspace(1.0, 3.0, 22), strict=True)}
_LISTINGS_2016_2021 = {2016: 14, 2017: 30, 2018: 12, 2019: 18, 2020: 34, 2021: 34}  # = 142
_LISTINGS_AFTER_2021 = {2022: 14, 2023: 12, 2024: 8, 2025: 8}
_LISTING_SECTIONS = {
    "C": 0.5,
    "I": 0.2,
    "F": 0.08,
    "K": 0.05,
    "M": 0.06,
    "E": 0.04,
    "G": 0.03,
    "R": 0.02,
    "L": 0.02,
}
SUFFIX_LTD, SUFFIX_JSC = "有限公司", "股份有限公司"


@dataclass
class EnterpriseResult:
    columns: dict[str, object]
    size: np.ndarray  # SizeClass values
    age_years: np.ndarray
    summary: dict[str, object]


def shared_strings(values: np.ndarray) -> np.ndarray:
    """An object array whose equal strings are one Python object (8 bytes a row, not ~60)."""
    uniques, inverse = np.unique(np.asarray(values).astype(str), return_inverse=True)
    return uniques.astype(object)[inverse]


def _choice(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum())


def _industries(rng: np.random.Generator, n: int):
    sec_w = np.array([INDUSTRIES[s][0] for s in SECTION_CODES])
    section_idx = _choice(rng, n, sec_w)
    codes = np.empty(n, dtype="<U4")
    word = np.empty(n, dtype=object)
    u = rng.random(n)
    for k, s in enumerate(SECTION_CODES):
        rows = np.nonzero(section_idx == k)[0]
        entries = INDUSTRIES[s][1]
        w = np.array([e[1] for e in entries])
        pick = _choice(rng, rows.size, w)
        codes[rows] = np.array([e[0] for e in entries])[pick]
        for j, e in enumerate(entries):
            sub = rows[pick == j]
            words = np.array(e[2], dtype=object)
            word[sub] = words[np.floor(u[sub] * len(words)).astype(int)]
    return section_idx, codes, word


def _districts(rng: np.random.Generator, section_idx: np.ndarray) -> np.ndarray:
    base = np.array([ENTERPRISE_DISTRICT_WEIGHTS[d] for d in DISTRICTS])
    out = np.empty(len(section_idx), dtype="<U6")
    for k, s in enumerate(SECTION_CODES):
        rows = np.nonzero(section_idx == k)[0]
        tilt = np.array([_TILT.get(s, {}).get(d, 1.0) for d in DISTRICTS])
        out[rows] = np.array(DISTRICTS)[_choice(rng, rows.size, base * tilt)]
    return out


def _founded(rng: np.random.Generator, n: int) -> np.ndarray:
    """1990–2025, skewed recent (registrations grew ~12 % a year, faster after the 2014 reform)."""
    years = np.arange(1990, 2026)
    w = np.exp(0.12 * (years - 1990)) * np.where(years >= 2014, 1.3, 1.0)
    year = years[_choice(rng, n, w)]
    return np.minimum(random_day_in_year(year, rng.random(n)), AS_OF)


def _names(rng: np.random.Generator, district: np.ndarray, word: np.ndarray, jsc: np.ndarray) -> np.ndarray:
    """杭州<字号><行业词>有限公司 (浙江…, <county>…, 杭州<district>… variants); unique."""
    n = len(district)
    county = np.isin(district, COUNTIES)
    u = rng.random(n)
    prefix = np.where(u < 0.85, "杭州", "浙江").astype(object)
    short = np.array([DISTRICT_SHORT[d] for d in DISTRICTS], dtype=object)
    dix = np.searchsorted(np.array(DISTRICTS), district)
    prefix[(u >= 0.85) & (u < 0.93)] = "杭州" + short[dix[(u >= 0.85) & (u < 0.93)]]
    prefix[county & (u < 0.5)] = short[dix[county & (u < 0.5)]]
    codes = draw_trade_codes(rng, n, 0.35)
    word_ix = np.unique(word.astype(str), return_inverse=True)[1]
    prefix_ix = np.unique(prefix.astype(str), return_inverse=True)[1]
    while True:
        base = len(SYLLABLES) + 1
        key = ((prefix_ix * base + codes[:, 0]) * base + codes[:, 1]) * base + codes[:, 2] + 1
        key = (key * (int(word_ix.max()) + 1) + word_ix) * 2 + jsc
        order = np.argsort(key, kind="stable")
        dup = np.zeros(n, dtype=bool)
        dup[order[1:]] = key[order][1:] == key[order][:-1]
        if not dup.any():
            break
        codes[dup] = draw_trade_codes(rng, int(dup.sum()), 0.6)
    suffix = np.where(jsc, SUFFIX_JSC, SUFFIX_LTD).astype(object)
    return prefix + trade_names(codes).astype(object) + word + suffix


def _listing_dates(rng: np.random.Generator, years: dict[int, float], n: int, exact: bool) -> np.ndarray:
    ys = np.array(list(years))
    w = np.array([years[y] for y in ys], dtype=np.float64)
    if exact:  # counts per year as given (scaled), remainder by largest fractions
        share = w / w.sum() * n
        count = np.floor(share).astype(int)
        rest = n - count.sum()
        count[np.argsort(-(share - count), kind="stable")[:rest]] += 1
        chosen = np.repeat(ys, count)
    else:
        chosen = ys[_choice(rng, n, w)]
    return random_day_in_year(chosen, rng.random(n))


def build_enterprises(
    rng: np.random.Generator, scale: cal.Scale, institution_keys: np.ndarray
) -> EnterpriseResult:
    n = scale.enterprises
    section_idx, industry_code, word = _industries(rng, n)
    sections = np.array(SECTION_CODES)[section_idx]
    district = _districts(rng, section_idx)
    founded = _founded(rng, n)

    # Size drivers: log-normal employees, revenue per employee and assets per revenue by section.
    drivers = np.array([SIZE_DRIVERS[s] for s in SECTION_CODES])[section_idx]
    age = (AS_OF - founded).astype(np.int64) / 365.25
    age_boost = 0.25 * np.log1p(np.minimum(age, 30) / 3)
    employees = np.maximum(
        1, np.round(drivers[:, 0] * np.exp(drivers[:, 1] * rng.standard_normal(n) + age_boost))
    )
    tail = rng.random(n) < 0.004  # a heavy tail of large firms
    employees[tail] *= np.exp(rng.uniform(1.0, 3.5, tail.sum()))
    employees = np.round(employees)
    revenue = employees * drivers[:, 2] * np.exp(0.9 * rng.standard_normal(n))
    assets = revenue * drivers[:, 3] * np.exp(0.6 * rng.standard_normal(n))

    # Exchange-listed firms (city facts: exactly 118 by 2015 and 260 by 2021 at small and city scale).
    n_2015 = round(cal.LISTED_2015 * scale.listed_share)
    n_2021 = round((cal.LISTED_2021 - cal.LISTED_2015) * scale.listed_share)
    n_after = round(sum(_LISTINGS_AFTER_2021.values()) * scale.listed_share)
    n_listed = n_2015 + n_2021 + n_after
    listed_dates = np.concatenate(
        [
            _listing_dates(rng, _LISTINGS_BEFORE_2016, n_2015, exact=True),
            _listing_dates(rng, _LISTINGS_2016_2021, n_2021, exact=True),
            _listing_dates(rng, _LISTINGS_AFTER_2021, n_after, exact=True),
        ]
    )
    # The listed firms: drawn among firms of the listing sections, then made large.
    sec_w = np.array([_LISTING_SECTIONS.get(s, 0.0) for s in sections])
    listed_rows = rng.choice(n, size=n_listed, replace=False, p=sec_w / sec_w.sum())
    employees[listed_rows] = np.round(np.exp(rng.normal(np.log(1_500), 0.9, n_listed))) + 300
    revenue[listed_rows] = np.exp(rng.normal(np.log(200_000), 1.0, n_listed)) + 40_000
    assets[listed_rows] = revenue[listed_rows] * np.exp(rng.normal(0.3, 0.5, n_listed))
    k_listed = sections[listed_rows] == "K"
    industry_code[listed_rows[k_listed]] = "701"
    founded[listed_rows] = np.minimum(
        founded[listed_rows], listed_dates - np.round(rng.uniform(3, 15, n_listed) * 365).astype(np.int64)
    )
    founded[listed_rows] = np.maximum(founded[listed_rows], day("1990-01-01"))
    overseas = rng.random(n_listed) < cal.LISTED_OVERSEAS_SHARE
    listing = np.full(n, "unlisted", dtype=object)
    listed_on = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    listing[listed_rows] = np.where(overseas, "listed_overseas", "listed_domestic")
    listed_on[listed_rows] = listed_dates

    # NEEQ (新三板) and regional equity (浙江股权交易中心) quotations among medium and small firms.
    revenue_rank = np.argsort(-(revenue * np.exp(0.8 * rng.standard_normal(n))), kind="stable")
    free = revenue_rank[listing[revenue_rank] == "unlisted"]
    n_neeq_2015 = round(cal.NEEQ_2015 * scale.quoted_share)
    n_reg_2015 = round(cal.REGIONAL_EQUITY_2015 * scale.quoted_share)
    n_neeq_later = round(n_neeq_2015 * 0.9)  # 2016–2025 net of delistings
    n_reg_later = round(n_reg_2015 * 0.8)
    pool = free[n // 200 : n // 200 + 6 * (n_neeq_2015 + n_neeq_later + n_reg_2015 + n_reg_later) + 10]
    pool = rng.permutation(pool)
    cut = np.cumsum([n_neeq_2015, n_neeq_later, n_reg_2015, n_reg_later])
    neeq_a, neeq_b, reg_a, reg_b = np.split(pool[: cut[-1]], cut[:-1])
    neeq_dates = np.concatenate(
        [
            _listing_dates(rng, {2013: 1, 2014: 3, 2015: 6}, len(neeq_a), exact=True),
            _listing_dates(
                rng,
                {2016: 6, 2017: 4, 2018: 2, 2019: 1, 2020: 1, 2021: 1, 2022: 1, 2023: 1, 2024: 1, 2025: 1},
                len(neeq_b),
                exact=True,
            ),
        ]
    )
    reg_dates = np.concatenate(
        [
            _listing_dates(rng, {2012: 1, 2013: 2, 2014: 3, 2015: 4}, len(reg_a), exact=True),
            _listing_dates(rng, {y: 1 for y in range(2016, 2026)}, len(reg_b), exact=True),
        ]
    )
    neeq = np.concatenate([neeq_a, neeq_b])
    reg = np.concatenate([reg_a, reg_b])
    listing[neeq] = "neeq"
    listed_on[neeq] = neeq_dates
    listing[reg] = "regional_equity"
    listed_on[reg] = reg_dates
    quoted = np.concatenate([neeq, reg])
    founded[quoted] = np.minimum(founded[quoted], listed_on[quoted] - 365 * 2)
    founded = np.maximum(founded, day("1990-01-01"))

    # Size class by the 2011 rule, from the latest year's figures.
    unique_codes, code_inverse = np.unique(industry_code, return_inverse=True)
    sector_key = np.array([sector_for_industry(c) for c in unique_codes])[code_inverse]
    size = classify_size_array(sector_key, employees, revenue, assets)
    jsc = (listing != "unlisted") | ((size == "large") & (rng.random(n) < 0.5)) | (rng.random(n) < 0.01)

    age = (AS_OF - founded).astype(np.int64) / 365.25
    p_tech = np.array([HIGH_TECH.get(s, 0.008) for s in sections])
    p_tech = p_tech * np.where(np.isin(size, ("medium", "large")), 2.2, 1.0) * np.where(age < 2, 0.3, 1.0)
    p_tech[listed_rows] = np.maximum(p_tech[listed_rows], 0.45)
    high_tech = rng.random(n) < np.minimum(p_tech, 0.9)

    capital_wan = np.exp(np.log(np.maximum(assets * 0.3, 10.0)) + 0.8 * rng.standard_normal(n))
    capital_wan = np.clip(np.round(capital_wan), 1, 5_000_000)
    capital_wan = np.where(
        size == "micro",
        np.minimum(capital_wan, np.round(np.exp(rng.normal(np.log(100), 1.0, n))) + 1),
        capital_wan,
    )
    financials_year = np.where((years_of(founded) >= 2025) | (rng.random(n) < 0.15), 2025, 2024)

    # Deregistered firms (注销): a few percent of small, older, unlisted firms.
    dereg = (listing == "unlisted") & (age > 2) & (rng.random(n) < 0.04) & np.isin(size, ("micro", "small"))
    dereg_on = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    span = np.maximum((AS_OF - founded[dereg]).astype(np.int64) - 400, 1)
    dereg_on[dereg] = founded[dereg] + 365 + np.floor(rng.random(dereg.sum()) * span).astype(np.int64)

    names = _names(rng, district, word, jsc)
    areas = issuing_areas(rng, district, np.maximum(founded, day("2015-10-01")))
    city_level = (np.isin(size, ("medium", "large")) & (rng.random(n) < 0.15)) | (rng.random(n) < 0.03)
    areas[city_level] = "330100"  # registered with the municipal market regulator
    province = np.zeros(n, dtype=bool)
    province[listed_rows] = rng.random(n_listed) < 0.3
    areas[province] = "330000"  # registered with the provincial market regulator
    usccs, _ = make_usccs(rng, areas, founded, exclude=institution_keys)

    columns = {
        "id": np.arange(1, n + 1, dtype=np.int64),
        "uscc": usccs,
        "name": names,
        "industry_section": shared_strings(sections),
        "industry_code": shared_strings(industry_code),
        "district_code": shared_strings(district),
        "size_class": shared_strings(size),
        "founded_on": founded,
        "registered_capital": capital_wan * 10_000.0,
        "employees": employees.astype(np.int64),
        "revenue": np.round(revenue * 10_000.0, 2),
        "total_assets": np.round(assets * 10_000.0, 2),
        "financials_year": financials_year.astype(np.int64),
        "listing_status": listing,
        "listed_on": listed_on,
        "high_tech": high_tech,
        "deregistered_on": dereg_on,
    }
    exchange = np.isin(listing, ("listed_domestic", "listed_overseas"))
    summary = {
        "listed_2015": int((exchange & (listed_on <= day("2015-12-31"))).sum()),
        "listed_2021": int((exchange & (listed_on <= day("2021-12-31"))).sum()),
        "listed_2025": int(exchange.sum()),
        "neeq_2015": int(((listing == "neeq") & (listed_on <= day("2015-12-31"))).sum()),
        "regional_equity_2015": int(
            ((listing == "regional_equity") & (listed_on <= day("2015-12-31"))).sum()
        ),
        "high_tech_share": round(float(high_tech.mean()), 4),
        "size_shares": {
            s: round(float((size == s).mean()), 4) for s in ("micro", "small", "medium", "large")
        },
    }
    return EnterpriseResult(columns, size, age, summary)


__all__ = ["INDUSTRIES", "EnterpriseResult", "build_enterprises", "shared_strings"]
