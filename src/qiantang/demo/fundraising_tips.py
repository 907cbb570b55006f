"""The demo city's public tips (举报) about illegal fundraising — synthetic (演示数据，非真实数据).

The tips are drawn from the latent process of ``demo/fundraising.py`` (who runs a scheme, how many
investors it has drawn, how far through its life it is, when it collapsed and how many victims it
left), never from the index's rules:

- investors and neighbours of a running scheme report it at a monthly rate that grows with the square
  root of its investors and, steeply, as its life runs out (payments slip before the end); the share of
  reports written by investors who lost money rises over the life;
- after a collapse its victims report it for a few months, more the more victims there were;
- every firm running no scheme (and a scheme's firm before it starts) draws unfounded tips at a small
  base rate; a few tips name a "firm" that is not in the register at all (a 工作室, a shop front);
- tipsters write the firm's name as they remember it: the full name, the short name without 杭州 and
  有限公司, a name with one character wrong, or the USCC from a contract; the public service matches it
  to the register (``tips.match_firm``) exactly as it does a real tip, so a misspelt name may be tied
  to the wrong firm or to none;
- some investors report together: a second report a few days later with a similar text, which the
  service merges into the open tip; now and then a tipster sends the same text twice.

Every report goes through ``tips.submit_tip`` (match, merge, receipt code, audit), dated when it was
sent, without the staff notifications (months-old tips), and with receipt codes drawn from a seeded
generator so that the same seed gives the same city. The offices then handle the tips through
``tips.mark_handled`` and ``tips.forward_to_case``, in the order it happened: older tips are mostly
handled, recent ones wait; half the handled tips on schemes are forwarded to a case (opened on the
day, or joining the firm's open case). The handling dates are set back to when it happened. All this
precedes the routing of the latest index run, which then raises a tip's open case instead of opening
another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.auth.models import Role, User
from qiantang.demo.fundraising import BRAND_A, BRAND_B, Schemes
from qiantang.fundraising import tips as service
from qiantang.fundraising.tip_models import Tip

TIPS_YEARS = 3  # the public tips page opened this many years before the demo's day
UNFOUNDED_RATE = 0.002  # tips a month about a firm running no scheme
UNKNOWN_RATE = 0.3  # tips a month, per 800 watched firms, about a "firm" not in the register
JOINT_REPORT = 0.25  # another investor reports the same matter a few days later
RESENT = 0.04  # the tipster sends the same text again
FORWARD = 0.5  # share of the handled tips on schemes that are forwarded to a case

VICTIM = (
    "我在该公司投了{a}万元，对方承诺年化{r}%，现在到期拿不回本金",
    "该公司已经{k}个月没有按时付息，客服电话打不通，门店也经常关门",
    "公司让我们介绍亲友投资，说拉人有奖励，现在申请提现一直失败",
    "我父母在该公司买了理财产品，合同上写保本保息，最近利息停发了",
)
COLLAPSED = (
    "该公司老板失联，很多投资人的钱拿不回来，请政府介入处理",
    "该公司突然关门，我投的{a}万元血本无归，和我一样的人还有很多",
    "我在该公司投了{a}万元，承诺年化{r}%，现在人去楼空，请尽快立案",
)
NEIGHBOUR = (
    "该公司每天组织老年人听讲座、发鸡蛋，动员他们买理财产品",
    "该公司在小区里发传单，宣传年化{r}%、稳赚不赔，怀疑是非法集资",
    "亲戚被拉去参加该公司的投资说明会，现场很多人签约交钱",
    "该公司员工在微信群里推销高息产品，说是内部认购额度，名额有限",
)
UNFOUNDED = (
    "接到该公司的推销电话，介绍理财产品，不知道是否合法，请核实",
    "该公司门口挂着投资咨询的牌子，进出的人很多，担心是非法集资",
    "朋友推荐该公司的产品，说年化{r}%，收益看起来偏高，请帮忙查一下",
    "我和该公司有合同纠纷，退款迟迟不处理，希望有关部门管一管",
)
UNKNOWN_PLACES = ("理财工作室", "投资咨询部", "养老服务驿站", "财富中心（无招牌）", "会员体验店")
HANDLED_NOTES = {
    "scheme": (
        "已约谈企业负责人，责令停止违规宣传，列入重点关注",
        "已会同市场监管部门现场检查，相关线索已移交公安机关",
        "已调取企业宣传材料和投资人名单，并入该企业的核查工作",
    ),
    "unfounded": (
        "经核查，未发现该企业有非法集资行为，已回复举报人",
        "经核查系合同纠纷，已告知举报人通过调解或诉讼解决",
        "经核查，该企业宣传内容合规，已提醒企业规范营销话术",
    ),
    "unknown": (
        "举报对象无法对应到登记企业，已请举报人补充地址等信息",
        "经街道走访，未找到举报所述经营场所，暂存备查",
    ),
}


@dataclass
class TipHistory:
    """What ``build_tips`` wrote: reports, tips (after merging) and the kind of each tip's first report."""

    reports: int = 0
    kinds: dict[int, str] = field(default_factory=dict)  # tip id → scheme | unfounded | unknown

    @property
    def tips(self) -> int:
        return len(self.kinds)


@dataclass(order=True)
class _Draft:
    at: datetime
    tipster: int
    firm: str = field(compare=False)
    what: str = field(compare=False)
    amount: str | None = field(compare=False, default=None)
    people: str | None = field(compare=False, default=None)
    contact: str = field(compare=False, default="")
    kind: str = field(compare=False, default="scheme")


def _day(d: date, rng: np.random.Generator, spread: float, as_of: date) -> datetime:
    day = min(as_of, d + timedelta(days=int(rng.uniform(0, spread))))
    return datetime.combine(day, time(int(rng.integers(7, 23)), int(rng.integers(60)), int(rng.integers(60))))


def _firm_text(rng: np.random.Generator, name: str, uscc: str) -> str:
    """The firm as a tipster writes it: mostly the name, sometimes short, misspelt, or the USCC."""
    u = rng.random()
    core = name.removeprefix("杭州").removesuffix("有限公司")
    if u < 0.10:
        return uscc
    if u < 0.25:
        return core
    if u < 0.40:
        pool = BRAND_A + BRAND_B
        j = int(rng.integers(len(core)))
        wrong = core[:j] + pool[int(rng.integers(len(pool)))] + core[j + 1 :]
        return "杭州" + wrong + ("有限公司" if rng.random() < 0.5 else "")
    if u < 0.48:
        return name.replace("有限公司", "公司")
    return name


def _text(bank: tuple[str, ...], rng: np.random.Generator, *, rate: float, amount_wan: float) -> str:
    return bank[int(rng.integers(len(bank)))].format(
        a=f"{amount_wan:g}",
        r=f"{rate:.0f}" if rng.random() < 0.6 else f"{rate:.1f}",
        k=int(rng.integers(1, 5)),
    )


def draw_tips(latent: Schemes, *, seed: int, as_of: date) -> list[_Draft]:
    """The reports the demo's tipsters send, oldest first (no database)."""
    rng = np.random.default_rng([seed, 15_016])
    since = date(as_of.year - TIPS_YEARS, 1, 1)
    drafts: list[_Draft] = []
    tipster = 0

    def new_tipster() -> int:
        nonlocal tipster
        tipster += 1
        return tipster

    def contact(k: int) -> str:
        return f"demo-tipster-{k}@example.invalid" if rng.random() < 0.4 else ""

    for i in range(len(latent.ids)):
        d = max(since, latent.founded[i])
        end = latent.collapse_on[i]
        while d <= as_of:
            state = "quiet"  # an honest firm, or a scheme's firm before the scheme starts
            if latent.scheme[i] and d >= latent.start[i]:
                state = "running" if end is None or d <= end else "collapsed"
            if state == "running":
                investors = latent.investors(i, d)
                through = min(1.0, (d - latent.start[i]).days / float(latent.life_days[i]))
                lam = 0.02 + 0.05 * np.sqrt(investors / 100) + 0.4 * through**3
            elif state == "collapsed":
                after = (d - end).days
                victims = latent.investors(i, end)
                lam = 0.5 * np.sqrt(victims / 100) * np.exp(-after / 45) if after < 150 else 0.0
            else:
                lam = UNFOUNDED_RATE
            for _ in range(int(rng.poisson(lam))):
                amount_wan = round(float(latent.ticket[i] * rng.lognormal(0, 0.5)) / 10_000, 1)
                rate = max(1.0, float(latent.promised[i] + rng.normal(0, 1)))
                people = None
                if state == "running":
                    kind = "scheme"
                    victim = rng.random() < 0.2 + 0.6 * through
                    bank = VICTIM if victim else NEIGHBOUR
                    if not victim and rng.random() < 0.3:
                        people = f"{int(rng.integers(10, 80))}人"
                elif state == "collapsed":
                    kind, bank = "scheme", COLLAPSED
                    if rng.random() < 0.4:
                        people = f"{max(2, int(victims * rng.uniform(0.05, 0.5)))}人"
                else:
                    kind, bank = "unfounded", UNFOUNDED
                k = new_tipster()
                draft = _Draft(
                    at=_day(d, rng, 30, as_of),
                    tipster=k,
                    firm=_firm_text(rng, latent.names[i], latent.usccs[i]),
                    what=_text(bank, rng, rate=rate, amount_wan=amount_wan),
                    amount=f"{amount_wan:g}万" if kind == "scheme" and rng.random() < 0.5 else None,
                    people=people,
                    contact=contact(k),
                    kind=kind,
                )
                drafts.append(draft)
                if kind == "scheme" and rng.random() < JOINT_REPORT:
                    j = new_tipster()
                    drafts.append(
                        _Draft(
                            at=_day(draft.at.date(), rng, 10, as_of),
                            tipster=j,
                            firm=_firm_text(rng, latent.names[i], latent.usccs[i]),
                            what=draft.what.replace("我", "我们", 1) if "我" in draft.what else draft.what,
                            amount=draft.amount,
                            people=draft.people,
                            contact=contact(j),
                            kind=kind,
                        )
                    )
                if rng.random() < RESENT:
                    drafts.append(
                        _Draft(
                            at=_day(draft.at.date(), rng, 3, as_of),
                            tipster=k,
                            firm=draft.firm,
                            what=draft.what,
                            amount=draft.amount,
                            people=draft.people,
                            contact=draft.contact,
                            kind=kind,
                        )
                    )
            d += timedelta(days=30)
    # Tips about places that are not in the register.
    months = (as_of - since).days // 30
    for m in range(months):
        for _ in range(int(rng.poisson(UNKNOWN_RATE * len(latent.ids) / 800))):
            brand = BRAND_A[int(rng.integers(len(BRAND_A)))] + BRAND_B[int(rng.integers(len(BRAND_B)))]
            place = UNKNOWN_PLACES[int(rng.integers(len(UNKNOWN_PLACES)))]
            k = new_tipster()
            drafts.append(
                _Draft(
                    at=_day(since + timedelta(days=30 * m), rng, 30, as_of),
                    tipster=k,
                    firm=f"{brand}{place}",
                    what=_text(NEIGHBOUR, rng, rate=float(rng.uniform(12, 30)), amount_wan=0),
                    contact=contact(k),
                    kind="unknown",
                )
            )
    drafts.sort()
    return drafts


def build_tips(session: Session, latent: Schemes, *, seed: int, as_of: date) -> TipHistory:
    """Send the demo's tips through the public service, oldest first; nothing is handled yet."""
    codes = np.random.default_rng([seed, 15_017])

    def choose(alphabet: str) -> str:
        return alphabet[int(codes.integers(len(alphabet)))]

    history = TipHistory()
    for draft in draw_tips(latent, seed=seed, as_of=as_of):
        receipt = service.submit_tip(
            session,
            firm=draft.firm,
            what_happened=draft.what,
            amount=draft.amount,
            people=draft.people,
            contact=draft.contact,
            ip=f"demo-tipster-{draft.tipster}",
            now=draft.at,
            notify_staff=False,
            choose=choose,
        )
        history.reports += 1
        history.kinds.setdefault(receipt.tip_id, draft.kind)
    return history


def handle_tips(session: Session, history: TipHistory, *, seed: int, as_of: date) -> dict[str, int]:
    """The offices' handling of the demo's tips, through the service, in the order it happened;
    returns tips per status. Run before the index's runs are routed, so that a run finding a firm
    with an open case from a tip raises that case rather than opening a second one."""
    rng = np.random.default_rng([seed, 15_018])
    users = {u.username: u for u in session.scalars(select(User))}
    by_district = {
        u.district_code: u for u in users.values() if u.district_code and u.role == Role.DISTRICT_OFFICER
    }
    city = users.get("analyst")
    if city is None:
        return {}
    plan = []
    for tip in session.scalars(select(Tip).order_by(Tip.id)).unique().all():
        first = tip.first_at.date()
        age = (as_of - first).days
        p = 0.9 if age > 60 else 0.6 if age > 20 else 0.15
        if rng.random() >= p:
            continue
        handled_on = min(as_of, first + timedelta(days=int(1 + rng.gamma(2.0, 5.0))))
        at = datetime.combine(
            handled_on, time(int(rng.integers(8, 19)), int(rng.integers(60)), int(rng.integers(60)))
        )
        kind = history.kinds.get(tip.id, "unknown") if tip.enterprise_id is not None else "unknown"
        forward = kind == "scheme" and rng.random() < FORWARD
        notes = HANDLED_NOTES[kind]
        plan.append((at, tip.id, forward, notes[int(rng.integers(len(notes)))]))
    for at, tip_id, forward, note in sorted(plan):
        tip = session.get(Tip, tip_id)
        actor = by_district.get(tip.district_code or "", city)
        if forward:  # opens a case on the day, or joins the firm's open case
            service.forward_to_case(session, tip_id=tip_id, actor=actor, today=at.date())
        else:
            service.mark_handled(session, tip_id=tip_id, actor=actor, note=note)
        tip.handled_at = at
    session.flush()
    counts: dict[str, int] = {}
    for status in session.scalars(select(Tip.status)):
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts
