"""The registry of the demo city: institutions, their status history and the latent health panel.

Licensed institutions (banks, securities, insurance …) follow a schedule of openings and closures
calibrated to the plan's 2015 baseline. Local financial organizations and private fund managers carry
a quarterly latent health (AR(1) with type-wide and time shocks); distress and exits arise when that
health crosses a threshold — never from a regulatory ratio. See docs/methods/demo-city.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qiantang.demo import calibration as cal
from qiantang.demo.calendar import (
    AS_OF,
    N_QUARTERS,
    day,
    quarter_of,
    random_day_in_quarter,
    random_day_in_year,
)
from qiantang.demo.codes import make_usccs
from qiantang.demo.names import (
    CITY_BANK_PLACES,
    FOREIGN_BANKS,
    JOINT_STOCK_BANKS,
    LARGE_BANKS,
    POLICY_BANKS,
    NamePicker,
)
from qiantang.demo.places import COUNTIES, DISTRICT_NAME, DISTRICT_SHORT, XIHU, issuing_areas, place
from qiantang.registry.reference import institution_type_rows

TYPES = {r["code"]: r for r in institution_type_rows()}
TYPE_ORDER = {code: i for i, code in enumerate(TYPES)}
BSI_TYPES = tuple(c for c, r in TYPES.items() if r["counts_as_bsi"])
BANK_TYPES = tuple(c for c in TYPES if c.startswith("bank_"))

# Status codes of the health simulation.
NOT_YET, ACTIVE, SUSPENDED, RESOLVING, DEREGISTERED, REVOKED = -1, 0, 1, 2, 3, 4
STATUS_VALUE = {
    ACTIVE: "active",
    SUSPENDED: "suspended",
    RESOLVING: "resolving",
    DEREGISTERED: "deregistered",
    REVOKED: "revoked",
}
EVENT_FOR_STATUS = {
    SUSPENDED: "suspended",
    RESOLVING: "resolution",
    DEREGISTERED: "deregistered",
    REVOKED: "revoked",
}

_ESTABLISHED_REASON = {
    "licensed": "经批准开业，领取金融许可证",
    "registered": "完成私募基金管理人登记",
    "local": "经地方金融管理部门批准设立",
}
REASONS: dict[str, tuple[str, ...]] = {
    "suspended": (
        "主要风险指标持续恶化，责令停业整顿",
        "未按规定报送监管报表且经营异常，责令停业整顿",
        "涉嫌违规经营，责令停业整顿并限期整改",
    ),
    "resolution": (
        "出现流动性风险，进入风险处置程序",
        "大额逾期无法兑付，纳入风险处置",
        "主要股东出险，启动风险处置",
    ),
    "resolution_p2p": ("平台逾期兑付，纳入网贷风险专项整治处置", "出借人集中挤兑，进入风险处置"),
    "resolution_p2p_policy": ("按网贷风险专项整治要求，进入良性退出程序",),
    "resolution_pfm": ("旗下产品逾期兑付，纳入风险处置", "失联异常，进入风险处置"),
    "resumed": ("整改完成，经验收恢复正常经营", "风险化解完毕，恢复正常经营"),
    "deregistered": ("风险处置完毕，依法注销", "经营难以为继，股东决议解散并注销"),
    "deregistered_voluntary": (
        "股东决议解散，依法注销",
        "经营期限届满，办理注销",
        "业务转型，主动退出并注销",
    ),
    "deregistered_pfm": ("因异常经营被基金业协会注销管理人登记", "超过12个月未备案产品，被注销登记"),
    "deregistered_pfm_voluntary": ("主动申请注销私募基金管理人登记",),
    "deregistered_p2p": ("完成良性退出，注销网贷机构备案", "网贷风险专项整治：清退并注销"),
    "deregistered_shell": ("空壳企业清理，主动申请注销",),
    "deregistered_branch": ("分支机构撤并，依法注销", "总部战略调整，撤销分支机构"),
    "deregistered_exchange": ("交易场所清理整顿：停止交易并注销",),
    "revoked": ("严重违法违规，吊销经营许可", "失联且拒不整改，取消经营资格"),
    "revoked_p2p": ("涉嫌非法集资，移送公安机关并取消备案",),
    "revoked_pfm": ("严重违规，取消私募基金管理人登记",),
    "revoked_shell": ("列入经营异常名录（失联、空壳），取消经营资格",),
    "revoked_payment": ("违规经营，注销支付业务许可证",),
    "changed": ("注册资本变更", "住所变更", "法定代表人变更"),
}


@dataclass
class Proto:
    """One institution before ids, names and places are fixed."""

    type_code: str
    level: str
    established: np.datetime64
    events: list[tuple[np.datetime64, str, str, str]] = field(default_factory=list)
    health_row: int = -1  # row in the health panel, -1 for types without the health process
    parent_slot: int = -1  # which parent firm (banks, securities, insurers …)
    protected: bool = False


@dataclass
class HealthPanel:
    """Quarterly health and status of every institution with a filing template (rows = institutions)."""

    institution_id: np.ndarray  # filled once ids are known
    type_code: np.ndarray
    established: np.ndarray
    exit_date: np.ndarray  # NaT while open
    h: np.ndarray  # (n, N_QUARTERS)
    status: np.ndarray  # (n, N_QUARTERS) status code at quarter end, NOT_YET before establishment
    theta: np.ndarray  # distress threshold of the row's type
    shell: np.ndarray


@dataclass
class Registry:
    institutions: dict[str, object]
    status_changes: dict[str, object]
    health: HealthPanel
    summary: dict[str, object]


# --- Schedules of licensed and other types -----------------------------------------------------------
def _stock_dates(rng: np.random.Generator, n: int, first_year: int, last_year: int) -> np.ndarray:
    years = rng.integers(first_year, last_year + 1, size=n)
    dates = random_day_in_year(years, rng.random(n))
    return np.minimum(dates, day("2015-12-31"))


def _bsi_protos(rng: np.random.Generator) -> list[Proto]:
    protos: list[Proto] = []
    slots: dict[tuple[str, str], int] = {}
    for spec in cal.BSI_STOCK:
        n = spec.count + spec.closed_in_2015
        dates = _stock_dates(rng, n, spec.first_year, spec.last_year)
        for i in range(n):
            key = (spec.type_code, spec.level)
            slot = slots.get(key, 0)
            slots[key] = slot + 1
            p = Proto(spec.type_code, spec.level, dates[i], parent_slot=slot)
            if i >= spec.count:  # closed during 2015, not in the 2015 count
                p.established = min(p.established, day("2014-12-31"))
                when = random_day_in_year(np.array([2015]), rng.random(1))[0]
                p.events.append((when, "deregistered", "deregistered", _pick(rng, "deregistered_branch")))
            protos.append(p)
    for entry in (*cal.BSI_NEW_HIGH, *cal.BSI_NEW_BRANCH):
        for _ in range(entry.count):
            key = (entry.type_code, entry.level)
            slot = slots.get(key, 0)
            slots[key] = slot + 1
            when = random_day_in_year(np.array([entry.year]), rng.random(1))[0]
            protos.append(Proto(entry.type_code, entry.level, when, parent_slot=slot))
    # Scheduled closures of branch-level offices (撤并).
    for year, count in cal.BSI_EXITS_PER_YEAR.items():
        start = day(f"{year}-01-01")
        eligible = [
            i
            for i, p in enumerate(protos)
            if p.type_code in cal.BSI_EXIT_TYPES
            and p.level == "branch"
            and p.established < start - 365
            and not p.events
        ]
        chosen = rng.choice(len(eligible), size=min(count, len(eligible)), replace=False)
        for k in sorted(chosen.tolist()):
            p = protos[eligible[k]]
            when = random_day_in_year(np.array([year]), rng.random(1))[0]
            p.events.append((when, "deregistered", "deregistered", _pick(rng, "deregistered_branch")))
    return protos


def _other_protos(rng: np.random.Generator) -> list[Proto]:
    protos: list[Proto] = []
    for spec in cal.OTHER_TYPES:
        dates = list(_stock_dates(rng, spec.stock, spec.first_year, spec.last_year))
        for year, n in spec.new_per_year.items():
            dates.extend(random_day_in_year(np.full(n, year), rng.random(n)))
        for slot, est in enumerate(dates):
            p = Proto(spec.type_code, "hq", est, parent_slot=slot)
            for year in range(spec.exit_years[0], spec.exit_years[1] + 1):
                start = day(f"{year}-01-01")
                if p.established >= start - 365 or rng.random() >= spec.exit_hazard:
                    continue
                when = random_day_in_year(np.array([year]), rng.random(1))[0]
                if rng.random() < spec.revoked_share:
                    key = "revoked_payment" if spec.type_code == "payment" else "revoked"
                    p.events.append((when, "revoked", "revoked", _pick(rng, key)))
                else:
                    exchange = spec.type_code == "local_exchange"
                    key = "deregistered_exchange" if exchange else "deregistered_voluntary"
                    p.events.append((when, "deregistered", "deregistered", _pick(rng, key)))
                break
            protos.append(p)
    return protos


def _pick(rng: np.random.Generator, key: str) -> str:
    options = REASONS[key]
    return options[int(rng.integers(len(options)))]


# --- The latent health process -----------------------------------------------------------------------
@dataclass
class _HealthResult:
    h: np.ndarray
    status: np.ndarray
    events: list[tuple[int, int, int, str]]  # (row, quarter, new status code or 0 for resumed, reason key)
    event_days: np.ndarray  # (n, N_QUARTERS) day-in-quarter draws for event dates


def simulate_health(
    rng: np.random.Generator,
    type_codes: np.ndarray,
    est_q: np.ndarray,
    protected: np.ndarray,
    shell: np.ndarray,
) -> _HealthResult:
    """Run the quarterly health process and the distress/exit state machine for every row."""
    specs = {s.type_code: s for s in cal.HEALTH_TYPES}
    codes = list(specs)
    tix = np.array([codes.index(t) for t in type_codes], dtype=np.int64)
    n, nq = len(type_codes), N_QUARTERS

    def per_type(attr: str) -> np.ndarray:
        return np.array([getattr(specs[c], attr) for c in codes], dtype=np.float64)[tix]

    mu, phi, sigma = per_type("mu"), per_type("phi"), per_type("sigma")
    loading, theta = per_type("type_loading"), per_type("theta")
    vol_exit, resolving_share = per_type("voluntary_exit"), per_type("resolving_share")
    direct_exit = per_type("direct_exit_share")
    level = mu + per_type("fixed_sd") * rng.standard_normal(n)
    level[protected] = np.maximum(level[protected], 0.8)
    stationary_sd = np.sqrt(sigma**2 + loading**2) / np.sqrt(1 - phi**2)
    shocks = np.zeros((len(codes), nq))
    for k, c in enumerate(codes):
        for qq, v in cal.COMMON_SHOCKS.items():
            shocks[k, qq] += v
        for qq, v in specs[c].shocks.items():
            shocks[k, qq] += v
    type_eta = rng.standard_normal((len(codes), nq))
    eps = rng.standard_normal((n, nq))
    init = rng.standard_normal(n)
    u = rng.random((n, nq, 6))
    lags = rng.choice(np.array(cal.TRIGGER_LAGS), size=(n, nq), p=np.array(cal.TRIGGER_LAG_P))
    event_days = rng.random((n, nq))

    h = np.full((n, nq), np.nan)
    status = np.full((n, nq), NOT_YET, dtype=np.int8)
    pending = np.full(n, -1, dtype=np.int64)
    tau = np.zeros(n, dtype=np.int64)
    policy = np.zeros(n, dtype=bool)  # P2P in 良性退出
    is_p2p = type_codes == "p2p_lending"
    is_pfm = type_codes == "private_fund_manager"
    events: list[tuple[int, int, int, str]] = []
    st = np.full(n, NOT_YET, dtype=np.int8)

    def record(mask: np.ndarray, qq: int, new_status: int | np.ndarray, key: str | np.ndarray) -> None:
        rows = np.nonzero(mask)[0]
        ns = np.broadcast_to(np.asarray(new_status), (n,))[rows]
        ks = np.broadcast_to(np.asarray(key, dtype=object), (n,))[rows]
        events.extend(zip(rows.tolist(), [qq] * len(rows), ns.tolist(), ks.tolist(), strict=True))

    for qq in range(nq):
        exists = est_q <= qq
        new = exists & ((est_q == qq) | ((qq == 0) & (est_q < 0)))
        fresh = new & (est_q == qq)
        if qq == 0:
            h[:, 0] = np.where(
                est_q < 0, level + stationary_sd * init, level + 0.4 + 0.5 * stationary_sd * init
            )
        else:
            prev = h[:, qq - 1]
            step = (
                level
                + phi * (prev - level)
                + sigma * eps[:, qq]
                + shocks[tix, qq]
                + loading * type_eta[tix, qq]
            )
            h[:, qq] = np.where(fresh, level + 0.4 + 0.5 * stationary_sd * eps[:, qq], step)
        h[~exists, qq] = np.nan
        st[new] = ACTIVE
        hq = h[:, qq]
        alive = (st == ACTIVE) | (st == SUSPENDED) | (st == RESOLVING)
        done = np.zeros(n, dtype=bool)  # one event per institution and quarter
        uq = u[:, qq, :]

        # P2P: every platform still open is closed in the last quarter of 2020.
        if qq == cal.P2P_ALL_GONE_BY:
            forced = is_p2p & alive
            revoke = forced & (st != ACTIVE) & (uq[:, 0] < 0.5)
            record(revoke, qq, REVOKED, "revoked_p2p")
            record(forced & ~revoke, qq, DEREGISTERED, "deregistered_p2p")
            st[revoke] = REVOKED
            st[forced & ~revoke] = DEREGISTERED
            pending[forced] = -1
            done |= forced

        # Institutions already in distress: recover or exit.
        distressed = ((st == SUSPENDED) | (st == RESOLVING)) & ~done
        tau[distressed] += 1
        recover = (
            distressed
            & ~policy
            & (tau >= 2)
            & (hq > theta + cal.RECOVERY_MARGIN)
            & (uq[:, 0] < cal.RECOVERY_P)
        )
        hazard = np.where(policy, 0.5, cal.EXIT_HAZARD_BASE + cal.EXIT_HAZARD_SLOPE * tau)
        leave = distressed & ~recover & ((uq[:, 1] < hazard) | (tau >= cal.MAX_DISTRESS_QUARTERS))
        revoke_p = np.where(st == RESOLVING, 0.6, 0.35)
        revoke_p[policy] = 0.1
        revoke = leave & (uq[:, 2] < revoke_p)
        record(recover, qq, ACTIVE, "resumed")
        key_rev = np.where(is_p2p, "revoked_p2p", np.where(is_pfm, "revoked_pfm", "revoked"))
        key_der = np.where(is_p2p, "deregistered_p2p", np.where(is_pfm, "deregistered_pfm", "deregistered"))
        record(revoke, qq, REVOKED, key_rev)
        record(leave & ~revoke, qq, DEREGISTERED, key_der)
        st[recover] = ACTIVE
        st[revoke] = REVOKED
        st[leave & ~revoke] = DEREGISTERED
        policy[recover | leave] = False
        done |= recover | leave

        # Regulator acts on an earlier health crossing, unless health has recovered meanwhile.
        due = (pending == qq) & (st == ACTIVE) & ~done
        act = due & (hq < theta + cal.NEAR_MISS_MARGIN)
        pending[due] = -1
        direct = act & (uq[:, 3] < direct_exit)
        resolving = act & ~direct & ((uq[:, 4] < resolving_share) | (hq < theta - 1.0))
        suspend = act & ~direct & ~resolving
        record(direct, qq, DEREGISTERED, "deregistered_pfm")
        key_res = np.where(is_p2p, "resolution_p2p", np.where(is_pfm, "resolution_pfm", "resolution"))
        record(resolving, qq, RESOLVING, key_res)
        record(suspend, qq, SUSPENDED, "suspended")
        st[direct] = DEREGISTERED
        st[resolving] = RESOLVING
        st[suspend] = SUSPENDED
        tau[resolving | suspend] = 0
        done |= act

        # Healthy, active institutions: a new crossing, a policy exit or a voluntary closure.
        old_enough = qq >= est_q + 2
        cand = (st == ACTIVE) & (pending < 0) & old_enough & ~done
        trigger = cand & (hq < theta) & ~protected
        pending[trigger] = qq + lags[:, qq][trigger]
        rest = cand & ~trigger & ~protected
        wind = rest & is_p2p & (cal.P2P_WIND_DOWN_FROM <= qq < cal.P2P_ALL_GONE_BY)
        wind &= uq[:, 5] < cal.P2P_WIND_DOWN_HAZARD
        record(wind, qq, RESOLVING, "resolution_p2p_policy")
        st[wind] = RESOLVING
        policy[wind] = True
        tau[wind] = 0
        rest &= ~wind
        shell_out = rest & shell & (cal.SHELL_CLEANUP[0] <= qq <= cal.SHELL_CLEANUP[1])
        shell_out &= uq[:, 5] < cal.SHELL_CLEANUP_HAZARD
        shell_revoke = shell_out & (uq[:, 2] < 0.6)
        record(shell_revoke, qq, REVOKED, "revoked_shell")
        record(shell_out & ~shell_revoke, qq, DEREGISTERED, "deregistered_shell")
        st[shell_revoke] = REVOKED
        st[shell_out & ~shell_revoke] = DEREGISTERED
        rest &= ~shell_out
        volunteer = rest & (uq[:, 3] < vol_exit)
        record(
            volunteer,
            qq,
            DEREGISTERED,
            np.where(is_pfm, "deregistered_pfm_voluntary", "deregistered_voluntary"),
        )
        st[volunteer] = DEREGISTERED
        status[:, qq] = st
    return _HealthResult(h, status, events, event_days)


def _health_protos(rng: np.random.Generator) -> tuple[list[Proto], HealthPanel]:
    """Local organizations and PFMs with the health process; PFMs trimmed to exactly 995 in 2015."""
    type_codes: list[str] = []
    est: list[np.datetime64] = []
    stock_flags: list[bool] = []
    pfm_target = cal.PFM_OPEN_2015
    for spec in cal.HEALTH_TYPES:
        n_stock = spec.stock
        if spec.type_code == "private_fund_manager":
            n_stock = int(pfm_target * 1.3) + 20  # pool, trimmed below
        dates = list(_stock_dates(rng, n_stock, spec.first_year, spec.last_year))
        if spec.type_code == "private_fund_manager":  # AMAC registration began in February 2014
            dates = [max(d, day("2014-02-07")) for d in dates]
        stock_flags += [True] * len(dates)
        for year, k in spec.new_per_year.items():
            dates.extend(random_day_in_year(np.full(k, year), rng.random(k)))
        stock_flags += [False] * (len(dates) - n_stock)
        type_codes += [spec.type_code] * len(dates)
        est += dates
    types = np.array(type_codes)
    est_arr = np.array(est, dtype="datetime64[D]")
    stock = np.array(stock_flags)
    protected = np.zeros(len(types), dtype=bool)
    first_small_loan = int(np.nonzero(types == "small_loan")[0][0])
    protected[first_small_loan] = True  # the demo reporter's institution: a healthy 西湖区 small-loan company
    est_arr[first_small_loan] = day("2009-06-18")
    shell = np.isin(types, cal.SHELL_TYPES) & (rng.random(len(types)) < cal.SHELL_SHARE)
    sim = simulate_health(rng, types, quarter_of(est_arr), protected, shell)

    events_by_row: dict[int, list[tuple[np.datetime64, str, str, str]]] = {}
    for row, qq, new_status, key in sim.events:
        when = random_day_in_quarter(np.array([qq]), np.array([sim.event_days[row, qq]]))[0]
        event = "resumed" if key == "resumed" else EVENT_FOR_STATUS[new_status]
        events_by_row.setdefault(row, []).append((when, event, STATUS_VALUE[new_status], _pick(rng, key)))

    exit_date = np.full(len(types), np.datetime64("NaT"), dtype="datetime64[D]")
    for row, evs in events_by_row.items():
        for when, event, _status, _reason in evs:
            if event in ("deregistered", "revoked"):
                exit_date[row] = when
    # Trim the PFM pool so that exactly the target number is open on 2015-12-31.
    end_2015 = day("2015-12-31")
    open_2015 = (types == "private_fund_manager") & stock & ~(exit_date <= end_2015)
    surplus = int(open_2015.sum()) - pfm_target
    if surplus < 0:
        raise RuntimeError("私募基金管理人候选池不足 / PFM pool too small")
    drop = np.zeros(len(types), dtype=bool)
    drop[rng.choice(np.nonzero(open_2015)[0], size=surplus, replace=False)] = True
    keep = np.nonzero(~drop)[0]

    protos = []
    for new_row, row in enumerate(keep.tolist()):
        p = Proto(
            str(types[row]),
            "hq",
            est_arr[row],
            events=events_by_row.get(row, []),
            health_row=new_row,
            protected=bool(protected[row]),
        )
        protos.append(p)
    panel = HealthPanel(
        institution_id=np.zeros(len(keep), dtype=np.int64),
        type_code=types[keep],
        established=est_arr[keep],
        exit_date=exit_date[keep],
        h=sim.h[keep],
        status=sim.status[keep],
        theta=np.array([next(s.theta for s in cal.HEALTH_TYPES if s.type_code == t) for t in types[keep]]),
        shell=shell[keep],
    )
    return protos, panel


# --- Names, places, capital --------------------------------------------------------------------------
_PROFILE = {
    "private_fund_manager": "pfm",
    "small_loan": "local",
    "financing_guarantee": "local",
    "pawnshop": "local",
    "finance_leasing": "leasing",
    "commercial_factoring": "leasing",
    "p2p_lending": "online",
    "payment": "online",
    "credit_reporting": "online",
    "regional_equity": "market",
    "local_exchange": "market",
    "local_amc": "market",
    "investment_company": "investment",
    "insurance_intermediary": "bsi_branch",
}
# Registered capital of legal entities in 万元: (median, log-s.d., min, max).
_CAPITAL = {
    "bank_city": (600_000, 0.2, 300_000, 1_000_000),
    "bank_rural": (200_000, 0.5, 50_000, 600_000),
    "bank_village": (15_000, 0.5, 5_000, 40_000),
    "bank_private": (400_000, 0.0, 400_000, 400_000),
    "trust": (200_000, 0.4, 100_000, 500_000),
    "financial_leasing": (200_000, 0.4, 100_000, 400_000),
    "consumer_finance": (100_000, 0.4, 50_000, 200_000),
    "auto_finance": (100_000, 0.4, 50_000, 200_000),
    "finance_company": (100_000, 0.6, 30_000, 400_000),
    "wealth_mgmt_subsidiary": (100_000, 0.2, 50_000, 200_000),
    "securities": (400_000, 0.5, 100_000, 1_000_000),
    "fund_management": (20_000, 0.3, 10_000, 40_000),
    "futures": (30_000, 0.6, 10_000, 150_000),
    "securities_advisory": (2_000, 0.5, 500, 10_000),
    "insurance_property": (200_000, 0.5, 100_000, 500_000),
    "insurance_life": (300_000, 0.5, 100_000, 800_000),
    "insurance_asset_mgmt": (30_000, 0.3, 10_000, 60_000),
    "insurance_intermediary": (1_000, 0.8, 200, 5_000),
    "payment": (30_000, 0.7, 10_000, 100_000),
    "credit_reporting": (10_000, 0.5, 5_000, 20_000),
    "regional_equity": (30_000, 0.0, 30_000, 30_000),
    "local_exchange": (10_000, 0.6, 3_000, 50_000),
    "local_amc": (200_000, 0.5, 100_000, 500_000),
    "investment_company": (50_000, 0.8, 10_000, 200_000),
    "small_loan": (20_000, 0.4, 10_000, 50_000),
    "financing_guarantee": (20_000, 0.6, 10_000, 100_000),
    "pawnshop": (2_000, 0.7, 500, 10_000),
    "finance_leasing": (15_000, 0.7, 5_000, 100_000),
    "commercial_factoring": (10_000, 0.6, 5_000, 50_000),
    "p2p_lending": (5_000, 0.6, 1_000, 10_000),
    "private_fund_manager": (1_500, 0.6, 1_000, 10_000),
}
_LICENCE_PREFIX = {"banking": "B", "securities": "Z", "insurance": "I", "payment": "Z2", "credit_info": "ZX"}
_LOCAL_ABBR = {
    "small_loan": "小贷",
    "financing_guarantee": "融担",
    "pawnshop": "典当",
    "finance_leasing": "融租",
    "commercial_factoring": "保理",
    "regional_equity": "股交",
    "local_exchange": "交易场所",
    "local_amc": "资管",
    "p2p_lending": "网贷备",
    "investment_company": "投资",
}


class _Namer:
    """Fictional names per type and level; parents for branches come from per-type pools."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.picker = NamePicker(rng)
        for name in (*POLICY_BANKS, *LARGE_BANKS, *JOINT_STOCK_BANKS, *FOREIGN_BANKS):
            self.picker.reserve(name)
        self.parents: dict[str, list[str]] = {}
        self.used: set[str] = set()

    def _parent(self, pool: str, slot: int, make) -> str:
        names = self.parents.setdefault(pool, [])
        while len(names) <= slot:
            names.append(self.picker.unique(make))
        return names[slot]

    def _variants(self, base: str, suffixes: list[str]) -> str:
        for s in suffixes:
            if base + s not in self.used:
                self.used.add(base + s)
                return base + s
        while True:
            s = f"杭州{self.picker.trade()}支行" if "银行" in base else f"杭州{self.picker.trade()}营业部"
            if base + s not in self.used:
                self.used.add(base + s)
                return base + s

    def _fresh(self, make) -> str:
        name = self.picker.unique(make)
        self.used.add(name)
        return name

    def name(self, p: Proto, district: str) -> tuple[str, str | None]:
        """(name, parent_name) of one institution."""
        t, lvl, slot = p.type_code, p.level, p.parent_slot
        dname, dshort = DISTRICT_NAME[district], DISTRICT_SHORT[district]
        county = district in COUNTIES
        home = dname if county else f"杭州{dshort}"
        if t == "bank_policy":
            parent = POLICY_BANKS[slot % len(POLICY_BANKS)]
            return self._variants(parent, ["浙江省分行"]), parent
        if t == "bank_large":
            parent = LARGE_BANKS[slot % len(LARGE_BANKS)] + "股份有限公司"
            if lvl == "provincial_branch":
                return self._variants(parent, ["浙江省分行"]), parent
            return self._variants(parent, ["杭州分行", f"杭州{dshort}支行", "杭州科技支行"]), parent
        if t == "bank_joint_stock":
            parent = JOINT_STOCK_BANKS[slot % len(JOINT_STOCK_BANKS)] + "股份有限公司"
            if lvl == "regional_hq":
                return self._variants(parent, ["长三角（杭州）区域总部"]), parent
            return self._variants(parent, ["杭州分行", f"杭州{dshort}支行"]), parent
        if t == "bank_city":
            if lvl == "hq":
                return self._fresh(lambda _: "之江银行股份有限公司"), None
            parent = CITY_BANK_PLACES[slot % len(CITY_BANK_PLACES)] + "银行股份有限公司"
            return self._variants(parent, ["杭州分行", f"杭州{dshort}支行"]), parent
        if t == "bank_rural":
            if slot == 0:
                return self._fresh(lambda _: "钱塘农村商业银行股份有限公司"), None
            return self._fresh(lambda tr: f"浙江{dshort}{tr}农村商业银行股份有限公司"), None
        if t == "bank_village":
            return self._fresh(lambda tr: f"{home}{tr}村镇银行股份有限公司"), None
        if t == "bank_private":
            return self._fresh(lambda tr: f"浙江{tr}银行股份有限公司"), None
        if t == "bank_foreign":
            parent = FOREIGN_BANKS[slot % len(FOREIGN_BANKS)] + "（中国）有限公司"
            return self._variants(parent, ["杭州分行", f"杭州{dshort}支行"]), parent
        simple = {
            "trust": lambda tr: f"浙江{tr}信托股份有限公司",
            "financial_leasing": lambda tr: f"{tr}金融租赁股份有限公司",
            "consumer_finance": lambda tr: f"{tr}消费金融股份有限公司",
            "auto_finance": lambda tr: f"{tr}汽车金融有限公司",
            "finance_company": lambda tr: f"{tr}集团财务有限公司",
            "wealth_mgmt_subsidiary": lambda tr: f"{tr}理财有限责任公司",
            "fund_management": lambda tr: f"{tr}基金管理有限公司",
            "securities_advisory": lambda tr: f"浙江{tr}证券投资顾问有限公司",
            "insurance_asset_mgmt": lambda tr: f"{tr}保险资产管理有限公司",
            "payment": lambda tr: f"浙江{tr}支付科技有限公司",
            "credit_reporting": lambda tr: f"浙江{tr}征信有限公司",
            "regional_equity": lambda _: "浙江澜潮股权交易中心有限公司",
            "local_amc": lambda tr: f"浙江{tr}资产管理股份有限公司",
            "investment_company": lambda tr: f"杭州{tr}产业投资有限公司",
            "small_loan": lambda tr: f"{'' if county else '杭州市'}{dname}{tr}小额贷款股份有限公司",
            "pawnshop": lambda tr: f"杭州{tr}典当有限责任公司",
        }
        if t in simple:
            return self._fresh(simple[t]), None
        if t in ("securities", "futures", "amc_national"):
            suffix = {
                "securities": "证券股份有限公司",
                "futures": "期货有限公司",
                "amc_national": "资产管理股份有限公司",
            }[t]
            if lvl == "hq":
                return self._fresh(lambda tr: f"浙江{tr}{suffix}"), None
            pool_slot = slot if lvl != "branch" else int(self.rng.integers(40))
            parent = self._parent(t, pool_slot, lambda tr: f"{tr}{suffix}")
            if lvl == "provincial_branch":
                return self._variants(
                    parent, ["浙江分公司" if t != "amc_national" else "浙江省分公司"]
                ), parent
            if lvl == "regional_hq":
                return self._variants(parent, ["浙江区域总部", "长三角区域总部"]), parent
            road = self.picker.trade()
            office = "证券营业部" if t == "securities" else "营业部"
            return self._variants(parent, [f"杭州{road}路{office}"]), parent
        if t in ("insurance_property", "insurance_life"):
            suffix = "财产保险股份有限公司" if t == "insurance_property" else "人寿保险股份有限公司"
            if lvl == "hq":
                return self._fresh(lambda tr: f"{tr}{suffix}"), None
            pool_slot = slot if lvl != "branch" else int(self.rng.integers(70))
            parent = self._parent(t, pool_slot, lambda tr: f"{tr}{suffix}")
            if lvl == "provincial_branch":
                return self._variants(parent, ["浙江分公司", "浙江省分公司"]), parent
            if lvl == "regional_hq":
                return self._variants(parent, ["长三角区域总部", "浙江区域总部"]), parent
            return self._variants(
                parent, ["杭州中心支公司", f"{dname}支公司", f"杭州{dshort}营销服务部"]
            ), parent
        if t == "insurance_intermediary":
            kind = "保险代理有限公司" if self.rng.random() < 0.6 else "保险经纪有限公司"
            return self._fresh(lambda tr: f"浙江{tr}{kind}"), None
        if t == "private_fund_manager":
            if p.established >= day("2017-01-01"):
                kinds = ("私募基金管理有限公司", "私募股权基金管理有限公司", "私募证券投资基金管理有限公司")
            else:
                kinds = (
                    "投资管理有限公司",
                    "资产管理有限公司",
                    "股权投资管理有限公司",
                    "投资管理合伙企业（有限合伙）",
                )
            kind = kinds[int(self.rng.integers(len(kinds)))]
            region = "浙江" if self.rng.random() < 0.15 else "杭州"
            return self._fresh(lambda tr: f"{region}{tr}{kind}"), None
        if t == "financing_guarantee":
            region = "浙江" if self.rng.random() < 0.3 else home
            return self._fresh(lambda tr: f"{region}{tr}融资担保有限公司"), None
        if t == "finance_leasing":
            forms = ("浙江{}融资租赁有限公司", "{}（杭州）融资租赁有限公司", "杭州{}融资租赁有限公司")
            form = forms[int(self.rng.integers(3))]
            return self._fresh(lambda tr: form.format(tr)), None
        if t == "commercial_factoring":
            region = "浙江" if self.rng.random() < 0.3 else "杭州"
            return self._fresh(lambda tr: f"{region}{tr}商业保理有限公司"), None
        if t == "p2p_lending":
            forms = (
                "杭州{}金融信息服务有限公司",
                "杭州{}网络科技有限公司",
                "浙江{}互联网金融信息服务有限公司",
            )
            form = forms[int(self.rng.integers(3))]
            return self._fresh(lambda tr: form.format(tr)), None
        if t == "local_exchange":
            forms = (
                "杭州{}文化产权交易所有限公司",
                "浙江{}金融资产交易中心股份有限公司",
                "杭州{}大宗商品交易中心有限公司",
                "杭州{}农村产权交易所有限公司",
                "浙江{}知识产权交易中心有限公司",
            )
            form = forms[p.parent_slot % len(forms)]
            return self._fresh(lambda tr: form.format(tr)), None
        raise KeyError(f"no naming rule for {t}/{lvl}")


def _profile(p: Proto) -> str:
    if p.type_code in _PROFILE:
        return _PROFILE[p.type_code]
    return "bsi_high" if p.level in ("hq", "regional_hq", "provincial_branch") else "bsi_branch"


def _place(rng: np.random.Generator, p: Proto) -> tuple[str, str | None]:
    if p.protected:
        return XIHU, None
    if p.type_code == "bank_rural":
        homes = ("330102", "330109", "330110", "330111", "330112", "330122", "330127", "330182")
        district = homes[p.parent_slot % len(homes)]
        return district, ("core_qjxc" if district == "330102" else None)
    if p.type_code == "bank_village":
        homes = (
            "330110",
            "330113",
            "330114",
            "330111",
            "330112",
            "330122",
            "330127",
            "330182",
            "330109",
            "330108",
            "330106",
            "330105",
            "330102",
        )
        return homes[p.parent_slot % len(homes)], None
    if p.type_code == "bank_city" and p.level == "hq":
        return "330102", "core_qjxc"
    return place(rng, _profile(p))


def _capital(rng: np.random.Generator, p: Proto) -> float | None:
    if p.level != "hq" or p.type_code not in _CAPITAL:
        return None
    median, sd, lo, hi = _CAPITAL[p.type_code]
    value = float(np.clip(median * np.exp(sd * rng.standard_normal()), lo, hi))
    step = 1_000 if value >= 10_000 else 100
    return round(value / step) * step


# --- Assembly ----------------------------------------------------------------------------------------
def _subsample(rng: np.random.Generator, protos: list[Proto], share: float) -> list[Proto]:
    """Keep about ``share`` of each type (at least 2 where the type has 2), and the protected one."""
    if share >= 1:
        return protos
    keep = rng.random(len(protos)) < share
    by_type: dict[str, list[int]] = {}
    for i, p in enumerate(protos):
        by_type.setdefault(p.type_code, []).append(i)
        keep[i] |= p.protected
    for rows in by_type.values():
        missing = min(2, len(rows)) - int(keep[rows].sum())
        for i in rows:
            if missing <= 0:
                break
            if not keep[i]:
                keep[i] = True
                missing -= 1
    return [p for p, k in zip(protos, keep, strict=True) if k]


def _add_changes(rng: np.random.Generator, protos: list[Proto]) -> None:
    """A few 变更 events (capital, address, legal representative) inside an active stretch."""
    for p in protos:
        if rng.random() >= 0.06:
            continue
        end = min([e[0] for e in p.events] + [AS_OF]) - 30
        start = max(p.established + 200, day("2015-01-01"))
        if end - start < 60:
            continue
        when = start + int(rng.integers(int((end - start).astype(int))))
        p.events.append((when, "changed", "active", _pick(rng, "changed")))


def build_registry(rng: np.random.Generator, institution_share: float) -> Registry:
    """Every institution of the city with its status history and, for filers, the health panel."""
    health_protos, panel = _health_protos(rng)
    protos = _bsi_protos(rng) + _other_protos(rng) + health_protos
    protos = _subsample(rng, protos, institution_share)
    _add_changes(rng, protos)

    n = len(protos)
    order = np.lexsort(
        (
            np.array([TYPE_ORDER[p.type_code] for p in protos]),
            np.array([p.established for p in protos], dtype="datetime64[D]"),
        )
    )
    protos = [protos[i] for i in order]
    namer = _Namer(rng)
    districts, clusters, names, parents, capital = [], [], [], [], []
    for p in protos:
        district, cluster = _place(rng, p)
        name, parent = namer.name(p, district)
        districts.append(district)
        clusters.append(cluster)
        names.append(name)
        parents.append(parent)
        capital.append(_capital(rng, p))
    ids = np.arange(1, n + 1, dtype=np.int64)
    established = np.array([p.established for p in protos], dtype="datetime64[D]")
    issued = np.maximum(established, day("2015-10-01"))  # codes re-issued in the 2015–2017 conversion
    usccs, keys = make_usccs(rng, issuing_areas(rng, np.array(districts), issued), established)

    status, dereg, ev_rows = [], [], []
    for i, p in enumerate(protos):
        p.events.sort(key=lambda e: e[0])
        category = TYPES[p.type_code]["category"].value
        ev_rows.append((i, p.established, "established", "active", _ESTABLISHED_REASON[category]))
        final, exit_day = "active", None
        for when, event, after, reason in p.events:
            ev_rows.append((i, when, event, after, reason))
            final = after
            if event in ("deregistered", "revoked"):
                exit_day = when
        status.append(final)
        dereg.append(exit_day)

    licence, registration, addresses = [], [], []
    pfm_rank = 0
    seq: dict[str, int] = {}
    for i, p in enumerate(protos):
        row = TYPES[p.type_code]
        year = int(str(p.established)[:4])
        seq[p.type_code] = seq.get(p.type_code, 0) + 1
        if row["category"].value == "licensed":
            prefix = _LICENCE_PREFIX.get(row["sector"], "L")
            licence.append(f"{prefix}{districts[i]}{TYPE_ORDER[p.type_code]:02d}{seq[p.type_code]:05d}")
            registration.append(None)
        elif p.type_code == "private_fund_manager":
            pfm_rank += 1
            licence.append(None)
            registration.append(f"P10{pfm_rank * 13 + 100:05d}")
        else:
            licence.append(f"浙金{_LOCAL_ABBR[p.type_code]}〔{year}〕{seq[p.type_code]}号")
            registration.append(None)
        road = namer.picker.trade(three_share=0.0)
        addresses.append(f"杭州市{DISTRICT_NAME[districts[i]]}{road}路{int(rng.integers(1, 999))}号")

    institutions = {
        "id": ids,
        "uscc": usccs,
        "name": np.array(names, dtype=object),
        "type_code": np.array([p.type_code for p in protos], dtype=object),
        "level": np.array([p.level for p in protos], dtype=object),
        "parent_name": np.array(parents, dtype=object),
        "district_code": np.array(districts, dtype=object),
        "cluster_code": np.array(clusters, dtype=object),
        "established_on": established,
        "deregistered_on": np.array(
            [d if d is not None else np.datetime64("NaT") for d in dereg], dtype="datetime64[D]"
        ),
        "status": np.array(status, dtype=object),
        "registered_capital": np.ma.masked_invalid(
            np.array([c * 10_000.0 if c is not None else np.nan for c in capital])
        ),
        "licence_no": np.array(licence, dtype=object),
        "address": np.array(addresses, dtype=object),
        "registration_no": np.array(registration, dtype=object),
    }
    ev_rows.sort(key=lambda r: (r[0], r[1]))
    status_changes = {
        "id": np.arange(1, len(ev_rows) + 1, dtype=np.int64),
        "institution_id": np.array([ids[r[0]] for r in ev_rows], dtype=np.int64),
        "effective_on": np.array([r[1] for r in ev_rows], dtype="datetime64[D]"),
        "event": np.array([r[2] for r in ev_rows], dtype=object),
        "status_after": np.array([r[3] for r in ev_rows], dtype=object),
        "reason": np.array([r[4] for r in ev_rows], dtype=object),
        "recorded_by": np.full(len(ev_rows), "demo", dtype=object),
    }
    # Point the health panel at the kept, re-ordered institutions.
    row_to_id = {p.health_row: int(ids[i]) for i, p in enumerate(protos) if p.health_row >= 0}
    kept = np.array(sorted(row_to_id), dtype=np.int64)
    panel = HealthPanel(
        institution_id=np.array([row_to_id[r] for r in kept.tolist()], dtype=np.int64),
        type_code=panel.type_code[kept],
        established=panel.established[kept],
        exit_date=panel.exit_date[kept],
        h=panel.h[kept],
        status=panel.status[kept],
        theta=panel.theta[kept],
        shell=panel.shell[kept],
    )
    summary = _summary(institutions)
    return Registry(institutions, status_changes, panel, {**summary, "uscc_keys": keys})


def open_on(institutions: dict, when: str) -> np.ndarray:
    """Mask of institutions open (established, not yet deregistered/revoked) on a day."""
    d = day(when)
    est = institutions["established_on"]
    dereg = institutions["deregistered_on"]
    return (est <= d) & ~(dereg <= d)


def _summary(inst: dict) -> dict[str, object]:
    types = inst["type_code"]
    bsi = np.isin(types, BSI_TYPES)
    high = np.isin(inst["level"], ("hq", "regional_hq", "provincial_branch"))
    est_year = inst["established_on"].astype("datetime64[Y]").astype(int) + 1970
    out: dict[str, object] = {
        "bsi_open_2015": int((bsi & open_on(inst, "2015-12-31")).sum()),
        "pfm_open_2015": int(((types == "private_fund_manager") & open_on(inst, "2015-12-31")).sum()),
        "new_high_level_bsi_2016_2020": int((bsi & high & (est_year >= 2016) & (est_year <= 2020)).sum()),
    }
    for year in (2016, 2018, 2020, 2025):
        mask = open_on(inst, f"{year}-12-31")
        out[f"bsi_open_{year}"] = int((bsi & mask).sum())
        out[f"pfm_open_{year}"] = int(((types == "private_fund_manager") & mask).sum())
    for t in (
        "small_loan",
        "financing_guarantee",
        "pawnshop",
        "finance_leasing",
        "commercial_factoring",
        "p2p_lending",
    ):
        counts = [int(((types == t) & open_on(inst, f"{y}-12-31")).sum()) for y in range(2015, 2026)]
        out[f"{t}_open_by_year"] = counts
    return out


__all__ = ["BANK_TYPES", "BSI_TYPES", "HealthPanel", "Registry", "build_registry", "open_on"]
