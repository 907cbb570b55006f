"""The demo city's quasi-financial firms and their fundraising histories — synthetic (演示数据，非真实数据).

A share of the firms run a scheme (a latent state the index never sees). A scheme starts some months
after the firm is founded, draws investors along a logistic curve whose speed rises with the return
it offers, pays early investors from later money and collapses (暴雷) after a gamma-distributed life
that shortens as the promised return rises. Around it the process writes what monitoring tools would
collect: advertisements (sentences from a phrase bank; honest firms also advertise, sometimes with
disclaimers), investor counts seen by quarterly checks (not for every firm), complaints whose rate
climbs as payments start to slip, registration changes that multiply before the end, people shared
within a few groups that run several schemes, bank reports of fund anomalies, and the 失信 list after
a collapse. Nothing here applies the index's thresholds or weights: the index is scored afterwards on
what was written, so the backtest in docs/methods/fundraising.md measures something.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from qiantang.demo.codes import make_usccs
from qiantang.demo.places import ENTERPRISE_DISTRICT_WEIGHTS
from qiantang.enterprises.models import Enterprise
from qiantang.fundraising.models import (
    Collapse,
    Complaint,
    DishonestDebtor,
    FirmPerson,
    FirmProfile,
    FirmText,
    FundAnomaly,
    RegistrationChange,
    SpreadObservation,
)
from qiantang.masking import mask_text

FIRMS = {"tiny": 150, "small": 800, "city": 5000}
TEXTS_FROM = date(2021, 1, 1)
# category: (share, GB/T 4754 code, name words, scope, P(scheme))
CATEGORIES = {
    "investment_consulting": (
        0.30,
        "7243",
        ("投资咨询", "财务咨询", "投资顾问"),
        "投资咨询；经济信息咨询；企业管理咨询",
        0.10,
    ),
    "wealth_management": (
        0.22,
        "7212",
        ("财富管理", "资产管理", "投资管理"),
        "资产管理；投资管理；财富管理咨询",
        0.22,
    ),
    "private_fund": (
        0.12,
        "6760",
        ("股权投资基金", "私募基金管理", "创业投资"),
        "股权投资；创业投资；私募基金管理",
        0.15,
    ),
    "online_lending": (
        0.08,
        "6940",
        ("金融信息服务", "网络科技"),
        "金融信息服务；借贷信息撮合；网络技术服务",
        0.30,
    ),
    "crowdfunding": (0.05, "7212", ("众筹", "股权众筹"), "股权众筹平台服务；项目投资", 0.30),
    "pension_rebate": (
        0.16,
        "8514",
        ("养老服务", "康养产业", "健康养老"),
        "养老服务；健康咨询；会员服务；预付卡销售",
        0.22,
    ),
    "crypto": (0.07, "6940", ("区块链科技", "数字科技"), "区块链技术服务；数字资产管理；软件开发", 0.35),
}
BRAND_A = "鑫汇聚恒盛金丰瑞泰富华嘉润宏诚信银宝鼎隆"
BRAND_B = "源通达融利安和祥晟邦裕德福元创硕川成海星"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
SOURCES = ("公司网站", "微信公众号", "短视频平台", "宣传单页", "论坛帖子", "招聘网站")
BUSINESS_CENTRES = (
    "钱江路58号太和广场",
    "庆春路38号金龙财富中心",
    "文三路90号东部软件园",
    "江南大道3688号潮人汇",
    "解放东路29号迪凯银座",
)
ROADS = ["文一路", "天目山路", "建国路", "中河路", "滨盛路", "江晖路", "古墩路", "学院路", "之江路", "秋涛路"]

# Phrase banks. Schemes write mostly from HYPE, honest firms mostly from PLAIN; each also borrows
# from the other now and then (firms copy each other's wording), so words alone do not separate them.
HYPE = (
    "本金有保障，{y}的收益按月到账，老客户介绍新客户另有奖励",
    "年化{y}，到期还本付息，稳赚不赔，名额有限先到先得",
    "认购原始股，公司即将上市，上市后翻倍",
    "养老投资新选择，入住权预售，每月返息，安享晚年",
    "数字资产挖矿项目，持币生息，日收益稳定",
    "保本保息，银行托管，资金安全有保障，年回报{y}",
    "消费全返，推荐好友得直推奖，团队奖励丰厚",
    "政府支持项目，国资背景，零风险高回报，月息{m}",
    "内部认购额度仅剩少量，错过再等一年",
    "影视投资分红，一部电影收益翻番，回报丰厚",
    "理财产品起投门槛低，随存随取，年化收益{y}",
    "免费旅游考察项目基地，现场签约送礼品",
)
PLAIN = (
    "专业团队为客户提供投资咨询与财务规划服务",
    "本公司不承诺保本保收益，投资有风险，入市需谨慎",
    "依法合规经营，谨防高息诱惑，远离非法集资",
    "为中小企业提供管理咨询和财务顾问服务",
    "养老服务中心提供日间照料、助餐、康复护理",
    "区块链技术服务，为企业提供溯源系统开发",
    "产品过往业绩不代表未来表现，业绩比较基准{b}",
    "欢迎参加本周六的投资者教育公益讲座",
    "公司获评年度优秀服务机构，感谢客户信任",
    "本产品为非保本浮动收益型，请根据风险承受能力谨慎选择",
)


def _date(day0: date, days: float) -> date:
    return day0 + timedelta(days=int(days))


def _key(seed: int, k: int) -> str:
    # A made-up person's key (the real one is a keyed hash of the ID number).
    return hashlib.sha256(f"demo-person-{seed}-{k}".encode()).hexdigest()


def _person(rng: np.random.Generator) -> tuple[str, str]:
    name = SURNAMES[rng.integers(len(SURNAMES))] + "".join(
        GIVEN[i] for i in rng.integers(len(GIVEN), size=rng.integers(1, 3))
    )
    id_number = f"330{rng.integers(100, 999)}{rng.integers(1960, 2000)}{rng.integers(1000000, 9999999)}X"
    return name, mask_text(id_number, 1, 1)


@dataclass(frozen=True)
class Schemes:
    """The latent process of the demo's quasi-financial firms, kept in memory for what is drawn from it
    later (the public tips, ``demo/fundraising_tips.py``); never stored and never shown to the index."""

    ids: np.ndarray  # enterprise ids
    names: list[str]
    usccs: list[str]
    founded: np.ndarray  # dates
    scheme: np.ndarray  # bool: runs a scheme
    start: np.ndarray  # dates: the scheme's start (meaningless for honest firms)
    life_days: np.ndarray  # the scheme's life (inf for honest firms)
    collapse_on: list[date | None]  # None: not collapsed by the demo's day
    promised: np.ndarray  # % a year
    ticket: np.ndarray  # 元 per investor
    investors: Callable[[int, date], int]  # investors of firm i on a day


def build_fundraising(session: Session, *, scale: str, seed: int, as_of: date) -> dict[str, int]:
    """Add the demo's quasi-financial firms and their monitoring data; returns rows per table."""
    return generate_fundraising(session, scale=scale, seed=seed, as_of=as_of)[0]


def generate_fundraising(
    session: Session, *, scale: str, seed: int, as_of: date
) -> tuple[dict[str, int], Schemes]:
    """:func:`build_fundraising`, with the latent process it drew the data from."""
    rng = np.random.default_rng([seed, 15_015])
    n = FIRMS.get(scale, FIRMS["tiny"])
    cats = list(CATEGORIES)
    cat = rng.choice(len(cats), size=n, p=np.array([CATEGORIES[c][0] for c in cats]))
    districts = list(ENTERPRISE_DISTRICT_WEIGHTS)
    dw = np.array([ENTERPRISE_DISTRICT_WEIGHTS[d] for d in districts])
    district = np.array(districts)[rng.choice(len(districts), size=n, p=dw / dw.sum())]
    first = date(2015, 1, 1)
    span = (as_of - timedelta(days=120) - first).days
    founded = np.array([_date(first, d) for d in rng.uniform(0, span, n)])
    scheme = rng.random(n) < np.array([CATEGORIES[cats[c]][4] for c in cat])

    codes = _usccs(session, rng, district, founded)
    rows_e = []
    reg_cap = np.where(
        scheme, np.exp(rng.normal(np.log(1200), 1.0, n)), np.exp(rng.normal(np.log(500), 1.0, n))
    )
    reg_cap = np.round(np.clip(reg_cap, 10, 100_000), 0) * 10_000  # 元
    paid_share = np.where(scheme, rng.beta(1.0, 3, n), rng.beta(1.5, 2, n))
    for i in range(n):
        c = cats[cat[i]]
        _share, code, words, _scope, _p = CATEGORIES[c]
        brand = BRAND_A[rng.integers(20)] + BRAND_B[rng.integers(20)]
        name = f"杭州{brand}{words[rng.integers(len(words))]}有限公司"
        rows_e.append(
            {
                "uscc": codes[i],
                "name": name,
                "industry_section": {"72": "L", "67": "J", "69": "J", "85": "Q"}[code[:2]],
                "industry_code": code,
                "district_code": district[i],
                "founded_on": founded[i],
                "registered_capital": float(reg_cap[i]),
                "listing_status": "unlisted",
                "high_tech": False,
            }
        )
    from qiantang.enterprises.models import ListingStatus

    for r in rows_e:
        r["listing_status"] = ListingStatus.UNLISTED
    session.execute(insert(Enterprise), rows_e)
    ids = dict(
        session.execute(select(Enterprise.uscc, Enterprise.id).where(Enterprise.uscc.in_(list(codes)))).all()
    )
    eid = np.array([ids[c] for c in codes])

    # The scheme's life: start, growth, promised return, collapse.
    start = np.array([_date(founded[i], rng.uniform(60, 400)) for i in range(n)])
    promised = np.where(
        scheme,
        np.clip(rng.lognormal(np.log(13), 0.45, n), 6, 60),
        np.clip(rng.lognormal(np.log(5.5), 0.4, n), 2, 14),
    )
    life_days = np.where(scheme, rng.gamma(3.0, 330 * (12 / promised) / 3.0), np.inf)
    collapse_on = [
        _date(start[i], life_days[i]) if scheme[i] and _date(start[i], life_days[i]) <= as_of else None
        for i in range(n)
    ]
    k_growth = np.where(scheme, rng.lognormal(np.log(promised / 3000), 0.4, n), rng.uniform(0.0005, 0.002, n))
    ceiling = np.where(scheme, rng.lognormal(np.log(400), 0.9, n), rng.lognormal(np.log(25), 0.8, n))
    ticket = np.where(scheme, rng.lognormal(np.log(8), 0.6, n), rng.lognormal(np.log(5), 0.6, n)) * 10_000

    def investors_on(i: int, d: date) -> int:
        end = collapse_on[i] or as_of
        t = (min(d, end) - start[i]).days
        if t <= 0:
            return 0
        x = ceiling[i] / (1 + np.exp(-k_growth[i] * (t - 3 / max(k_growth[i], 1e-4) / 2)))
        return int(x)

    groups = max(3, n // 40)  # groups that run several schemes and share people
    people_rows, profile_rows = [], []
    person_counter = 0
    group_people: dict[int, list[tuple[int, str, str]]] = {}
    for i in range(n):
        k_people = 1 + int(rng.integers(1, 4))
        members = []
        for _ in range(k_people):
            if scheme[i] and rng.random() < 0.5:
                g = int(rng.integers(groups))
                pool = group_people.setdefault(g, [])
                if len(pool) < 4:
                    person_counter += 1
                    pool.append((person_counter, *_person(rng)))
                members.append(pool[int(rng.integers(len(pool)))])
            else:
                person_counter += 1
                members.append((person_counter, *_person(rng)))
        seen = set()
        for j, (pk, name, idm) in enumerate(members):
            if pk in seen:
                continue
            seen.add(pk)
            people_rows.append(
                {
                    "enterprise_id": int(eid[i]),
                    "person_key": _key(seed, pk),
                    "name": name,
                    "id_masked": idm,
                    "role": "legal_rep" if j == 0 else "shareholder",
                    "share": None if j == 0 else round(1 / max(1, k_people - 1), 2),
                    "since": founded[i],
                    "until": None,
                }
            )
        centre = scheme[i] and rng.random() < 0.35
        address = (
            f"杭州市{BUSINESS_CENTRES[int(rng.integers(len(BUSINESS_CENTRES)))]}{int(rng.integers(5, 30))}楼"
            if centre
            else f"杭州市{ROADS[int(rng.integers(len(ROADS)))]}{int(rng.integers(1, 999))}号"
        )
        profile_rows.append(
            {
                "enterprise_id": int(eid[i]),
                "business_scope": CATEGORIES[cats[cat[i]]][3]
                + "（未经金融等监管部门批准，不得从事向公众融资存款、融资担保、代客理财等金融服务）",
                "paid_in_capital": float(round(reg_cap[i] * paid_share[i], -2)),
                "address": address,
                "phone": f"0571-8{int(rng.integers(1000000, 9999999))}",
                "source": "demo",
            }
        )
    for r in people_rows:
        from qiantang.fundraising.models import PersonRole

        r["role"] = PersonRole(r["role"])
    session.execute(insert(FirmProfile), profile_rows)
    session.execute(insert(FirmPerson), people_rows)

    texts, spread, complaints, changes, funds, collapses, dishonest = [], [], [], [], [], [], []
    from qiantang.fundraising.models import ChangeKind

    kinds = list(ChangeKind)
    for i in range(n):
        e = int(eid[i])
        end = collapse_on[i] or as_of
        y = promised[i]
        # advertisements: monthly, more while a scheme grows
        d = max(TEXTS_FROM, founded[i])
        while d <= end:
            active = scheme[i] and d >= start[i]
            rate = 1.2 if active else 0.35
            for _ in range(int(rng.poisson(rate))):
                hype = rng.random() < (0.6 if active else 0.12)
                bank = HYPE if hype else PLAIN
                text = bank[int(rng.integers(len(bank)))].format(
                    y=f"{y:.0f}%" if rng.random() < 0.5 else f"{y:.1f}%",
                    m=f"{y / 12:.1f}%",
                    b=f"{rng.uniform(2.5, 4.5):.2f}%",
                )
                if not hype and rng.random() < 0.3:
                    text += f"，过往年化收益约{max(1.5, y + rng.normal(0, 1)):.1f}%"
                texts.append(
                    {
                        "enterprise_id": e,
                        "firm_name": rows_e[i]["name"],
                        "source": SOURCES[int(rng.integers(len(SOURCES)))],
                        "url": f"https://example.invalid/demo/{e}/{len(texts)}",
                        "published_on": min(as_of, _date(d, rng.uniform(0, 28))),
                        "text": text,
                    }
                )
            d = _date(d, 30)
        # quarterly investor checks, for about 60 % of firms
        if rng.random() < 0.6:
            d = max(date(2020, 1, 1), founded[i])
            while d <= as_of:
                inv = investors_on(i, d)
                if inv > 0 or not scheme[i]:
                    spread.append(
                        {
                            "enterprise_id": e,
                            "observed_on": d,
                            "investors": inv,
                            "amount_raised": float(round(inv * ticket[i], -2)),
                            "realised_return": float(round(y + rng.normal(0, 1), 1))
                            if rng.random() < 0.3
                            else None,
                            "districts": int(1 + min(12, inv // 40)),
                            "provinces": int(1 + min(5, inv // 250)),
                            "source": "demo",
                        }
                    )
                d = _date(d, 91)
        # complaints: a base rate, climbing in a scheme's last months
        d = max(TEXTS_FROM, founded[i])
        while d <= as_of:
            lam = 0.01
            if scheme[i] and d >= start[i]:
                left = ((collapse_on[i] or _date(start[i], life_days[i])) - d).days
                lam = 0.03 + (1.5 * np.exp(-max(left, 0) / 120) if left > -200 else 0.2)
            for _ in range(int(rng.poisson(lam))):
                complaints.append(
                    {
                        "enterprise_id": e,
                        "received_on": min(as_of, _date(d, rng.uniform(0, 28))),
                        "channel": ("12345热线", "信访", "网络投诉")[int(rng.integers(3))],
                        "amount": float(round(rng.lognormal(np.log(8e4), 0.8), -2)),
                        "summary": ("到期未能兑付本息", "无法提现", "承诺高收益后失联", "退款被拒")[
                            int(rng.integers(4))
                        ],
                    }
                )
            d = _date(d, 30)
        # registration changes: a base rate, more in a scheme's last year
        d = founded[i]
        while d <= end:
            lam = 0.04
            if scheme[i] and collapse_on[i] and (collapse_on[i] - d).days < 365:
                lam = 0.35
            for _ in range(int(rng.poisson(lam))):
                kind = kinds[int(rng.integers(len(kinds)))]
                changes.append(
                    {
                        "enterprise_id": e,
                        "kind": kind,
                        "changed_on": min(as_of, _date(d, rng.uniform(0, 28))),
                        "before": "",
                        "after": "",
                        "source": "demo",
                    }
                )
            d = _date(d, 30)
        # bank fund reports while a scheme is large
        if scheme[i]:
            d = max(date(2021, 1, 1), start[i])
            while d <= end:
                if investors_on(i, d) > 100 and rng.random() < 0.08:
                    funds.append(
                        {
                            "enterprise_id": e,
                            "reported_on": d,
                            "bank": "演示银行",
                            "kind": ("分散转入集中转出", "快进快出", "大额现金支取")[int(rng.integers(3))],
                            "amount": float(round(rng.lognormal(np.log(5e5), 0.7), -2)),
                            "note": "演示数据",
                        }
                    )
                d = _date(d, 30)
        if collapse_on[i]:
            victims = max(1, investors_on(i, collapse_on[i]))
            collapses.append(
                {
                    "enterprise_id": e,
                    "collapsed_on": collapse_on[i],
                    "victims": victims,
                    "loss": float(round(victims * ticket[i] * 0.6, -2)),
                    "source": "demo",
                }
            )
            listed = _date(collapse_on[i], rng.uniform(60, 300))
            if listed <= as_of:
                dishonest.append(
                    {
                        "enterprise_id": e,
                        "uscc": codes[i],
                        "person_key": None,
                        "name": rows_e[i]["name"],
                        "case_no": f"（{listed.year}）浙0106执{int(rng.integers(1000, 9999))}号",
                        "court": "杭州市西湖区人民法院",
                        "listed_on": listed,
                        "removed_on": None,
                    }
                )
                legal = next(p for p in people_rows if p["enterprise_id"] == e)
                dishonest.append(
                    {
                        "enterprise_id": None,
                        "uscc": None,
                        "person_key": legal["person_key"],
                        "name": legal["name"],
                        "case_no": f"（{listed.year}）浙0106执{int(rng.integers(1000, 9999))}号",
                        "court": "杭州市西湖区人民法院",
                        "listed_on": listed,
                        "removed_on": None,
                    }
                )
        elif rng.random() < 0.02:  # an ordinary commercial debt, unrelated to any scheme
            listed = _date(max(founded[i], date(2020, 1, 1)), rng.uniform(0, 1500))
            if listed <= as_of:
                dishonest.append(
                    {
                        "enterprise_id": e,
                        "uscc": codes[i],
                        "person_key": None,
                        "name": rows_e[i]["name"],
                        "case_no": f"（{listed.year}）浙0106执{int(rng.integers(1000, 9999))}号",
                        "court": "杭州市西湖区人民法院",
                        "listed_on": listed,
                        "removed_on": None,
                    }
                )
    counts = {}
    for model, rows in (
        (FirmText, texts),
        (SpreadObservation, spread),
        (Complaint, complaints),
        (RegistrationChange, changes),
        (FundAnomaly, funds),
        (Collapse, collapses),
        (DishonestDebtor, dishonest),
    ):
        for k in range(0, len(rows), 10_000):
            session.execute(insert(model), rows[k : k + 10_000])
        counts[model.__tablename__] = len(rows)
    counts["enterprises"] = n
    session.flush()
    latent = Schemes(
        ids=eid,
        names=[r["name"] for r in rows_e],
        usccs=list(codes),
        founded=founded,
        scheme=scheme,
        start=start,
        life_days=life_days,
        collapse_on=collapse_on,
        promised=promised,
        ticket=ticket,
        investors=investors_on,
    )
    return counts, latent


def _usccs(
    session: Session, rng: np.random.Generator, district: np.ndarray, founded: np.ndarray
) -> list[str]:
    f = np.array([np.datetime64(d, "D") for d in founded])
    codes, _ = make_usccs(rng, district, f)
    codes = [str(c) for c in codes]
    for _ in range(10):
        taken = set(session.scalars(select(Enterprise.uscc).where(Enterprise.uscc.in_(codes))))
        if not taken:
            return codes
        idx = [i for i, c in enumerate(codes) if c in taken]
        new, _ = make_usccs(rng, district[idx], f[idx], exclude=None)
        for i, c in zip(idx, new, strict=True):
            codes[i] = str(c)
    return codes
