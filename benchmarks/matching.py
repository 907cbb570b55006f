"""Benchmark: financing matchmaking at city scale.

On a demo database (the ``city`` demo for the issue's figures): 2,000+ synthetic products of the
registry's lenders and 10,000+ open needs of registry firms (with each firm's real context: size,
industry, district, age, loans, credit PD, guarantee-group risk, fundraising grade and 失信 flag) are
matched, every need against every product, with reasons — timed beside a naive per-pair Python loop
(the same rules and ranking, one pair at a time, ``engine.explain``) run on a sample and scaled to all
pairs, giving the ratio. Then,
with the products stored (in a transaction rolled back at the end): recommendations for one firm's
need through the database (``service.recommend``), and the matchmaking page as a city admin
(in-process client), p50/p95, and the statistics page and API beside a naive per-need loop.
Goals (issue 14): all needs < 5 s; one firm < 100 ms; page p95 < 300 ms.

    python benchmarks/matching.py --database-url sqlite:////tmp/city.db [--needs 10000 --products 2000]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import select

from qiantang.db import make_engine, new_session, use_engine
from qiantang.enterprises.models import Enterprise
from qiantang.matching import engine, service
from qiantang.matching.models import Collateral, Need, NeedChannel, Product, ProductKind, ProductStatus
from qiantang.registry.models import Institution

TODAY = date(2026, 6, 30)
LENDERS = (
    "bank_large",
    "bank_joint_stock",
    "bank_city",
    "bank_rural",
    "bank_village",
    "bank_private",
    "small_loan",
)


def synthetic_products(session, rng, n: int) -> pd.DataFrame:
    lenders = session.scalars(select(Institution.id).where(Institution.type_code.in_(LENDERS))).all()
    kinds = [k for k in ProductKind if k != ProductKind.EQUITY]
    rows = []
    for i in range(n):
        kind = kinds[int(rng.integers(0, len(kinds)))]
        lo = float(rng.choice([1e5, 3e5, 5e5, 1e6]))
        rows.append(
            {
                "id": i + 1,
                "institution_id": int(rng.choice(lenders)),
                "kind": kind.value,
                "min_amount": lo,
                "max_amount": lo * float(rng.choice([5, 10, 20, 50])),
                "min_term_months": int(rng.choice([3, 6, 12])),
                "max_term_months": int(rng.choice([12, 36, 60])),
                "min_spread_bp": int(rng.integers(-30, 400)),
                "sizes": []
                if rng.random() < 0.5
                else list(rng.choice(["micro", "small", "medium"], 2, replace=False)),
                "industries": [] if rng.random() < 0.7 else list(rng.choice(list("CFIMG"), 2, replace=False)),
                "districts": [],
                "min_age_years": float(rng.choice([0, 1, 2, 3])),
                "collateral": {"mortgage": ["real_estate", "equipment"], "guaranteed": ["guarantor"]}.get(
                    kind.value, []
                ),
                "first_loan_only": kind == ProductKind.FIRST_LOAN,
            }
        )
    return pd.DataFrame(rows)


def synthetic_needs(session, rng, n: int) -> pd.DataFrame:
    ids = session.scalars(select(Enterprise.id).where(Enterprise.deregistered_on.is_(None))).all()
    picks = [int(x) for x in rng.choice(ids, size=min(n, len(ids)), replace=False)]
    context = service.firm_context(session, picks, as_of=TODAY).set_index("enterprise_id")
    rows = []
    coll = [c.value for c in Collateral if c != Collateral.NONE]
    for i, eid in enumerate(picks):
        c = context.loc[eid]
        rows.append(
            {
                "id": i + 1,
                "amount": float(np.exp(rng.normal(np.log(2e6), 0.8))),
                "term_months": int(rng.choice([6, 12, 24, 36])),
                "max_rate_pct": float(rng.choice([4.0, 5.0, 6.5])) if rng.random() < 0.4 else np.nan,
                "collateral": list(rng.choice(coll, int(rng.integers(0, 3)), replace=False)),
                "size_class": c["size_class"],
                "industry_section": c["industry_section"],
                "district_code": c["district_code"],
                "age_years": c["age_years"],
                "has_loan": bool(c["has_loan"]),
                "pd": c["pd"],
                "group_level": c["group_level"] if isinstance(c["group_level"], str) else None,
                "dishonest_since": c["dishonest_since"],
                "fr_grade": c["fr_grade"],
                "fr_scored_on": c["fr_scored_on"],
                "enterprise_id": eid,
            }
        )
    return pd.DataFrame(rows)


def naive_pair(p: dict, n: dict, lpr: float, ranking: engine.Ranking) -> float | None:
    """The baseline: the same rules and score for one pair in plain Python (None when excluded)."""
    import math

    if not p["min_amount"] <= n["amount"] <= p["max_amount"]:
        return None
    if not p["min_term_months"] <= n["term_months"] <= p["max_term_months"]:
        return None
    if p["sizes"] and n["size_class"] not in p["sizes"]:
        return None
    if p["industries"] and n["industry_section"] not in p["industries"]:
        return None
    if p["districts"] and n["district_code"] not in p["districts"]:
        return None
    if (n["age_years"] or 0) < p["min_age_years"]:
        return None
    if p["collateral"] and not set(p["collateral"]) & set(n["collateral"]):
        return None
    if n["max_rate_pct"] == n["max_rate_pct"] and lpr + p["min_spread_bp"] / 100 > n["max_rate_pct"] + 1e-9:
        return None
    if p["first_loan_only"] and n["has_loan"]:
        return None
    if n.get("dishonest_since") is not None or n.get("fr_grade") in engine.load_rules().exclude_grades:
        return None

    def fit(v, lo, hi):
        span = math.log(hi) - math.log(lo)
        return 1.0 if span <= 0 else min(max(1 - abs(2 * (math.log(v) - math.log(lo)) / span - 1), 0.0), 1.0)

    f = ranking.fit
    fit_score = (
        f["amount"] * fit(n["amount"], p["min_amount"], p["max_amount"])
        + f["term"] * fit(n["term_months"], p["min_term_months"], p["max_term_months"])
        + f["size"] * (1.0 if n["size_class"] in p["sizes"] else 0.5)
        + f["industry"] * (1.0 if n["industry_section"] in p["industries"] else 0.5)
        + f["collateral"]
        * (ranking.collateral["pledge"] if p["collateral"] else ranking.collateral["none_needed"])
    ) / sum(f.values())
    pd_ = n["pd"]
    credit = 0.5 if pd_ != pd_ else 1 - min(max(pd_, 0.0), 0.25) / 0.25
    network = ranking.network.get(n["group_level"], ranking.network["green"]) if n["group_level"] else 1.0
    w = ranking.weights
    return (w["fit"] * fit_score + w["credit"] * credit + w["network"] * network + w["lender"] * 0.5) / sum(
        w.values()
    )


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--needs", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--naive-needs", type=int, default=200, help="needs in the naive loop's sample")
    args = parser.parse_args()
    use_engine(make_engine(args.database_url))
    rng = np.random.default_rng(2016)
    session = new_session()
    lpr = engine.lpr_on(TODAY)
    t0 = time.perf_counter()
    products = synthetic_products(session, rng, args.products)
    needs = synthetic_needs(session, rng, args.needs)
    print(
        f"tables: {len(needs):,} needs × {len(products):,} products = {len(needs) * len(products):,} pairs "
        f"(firm context read in {time.perf_counter() - t0:.1f} s)"
    )

    started = time.perf_counter()
    result = engine.match_all(products, needs, lpr=lpr, top=10)
    vec = time.perf_counter() - started
    print(
        f"  vectorised, all needs, top 10 per need          {vec:8.2f} s   "
        f"({result.eligible_pairs:,} eligible pairs)"
    )
    sample = needs.head(args.naive_needs).to_dict("records")
    records = products.to_dict("records")
    ranking = engine.load_ranking()
    started = time.perf_counter()
    for n in sample:
        scored = [(naive_pair(p, n, lpr, ranking), p["id"]) for p in records]
        sorted((-v, i) for v, i in scored if v is not None)[:10]
    naive_pair_s = (time.perf_counter() - started) / (len(sample) * len(records))
    naive_all = naive_pair_s * len(needs) * len(products)
    print(
        f"  naive per-pair Python loop, {len(sample) * len(records):,} pairs sampled "
        f"{naive_pair_s * 1e6:8.1f} µs a pair "
        f"→ {naive_all:,.0f} s for all pairs; ratio {naive_all / vec:,.0f}×"
    )
    print("  excluded pairs by rule: " + ", ".join(f"{k} {v:,}" for k, v in result.excluded_by.items()))

    # With the products stored: one firm's recommendations through the database, and the page.
    stored = [
        Product(
            institution_id=int(r["institution_id"]),
            name=f"基准产品{r['id']}",
            kind=ProductKind(r["kind"]),
            min_amount=r["min_amount"],
            max_amount=r["max_amount"],
            min_term_months=r["min_term_months"],
            max_term_months=r["max_term_months"],
            min_spread_bp=r["min_spread_bp"],
            max_spread_bp=r["min_spread_bp"] + 300,
            sizes=r["sizes"],
            industries=r["industries"],
            districts=r["districts"],
            min_age_years=r["min_age_years"],
            collateral=r["collateral"],
            first_loan_only=r["first_loan_only"],
            status=ProductStatus.APPROVED,
        )
        for r in records
    ]
    session.add_all(stored)
    session.flush()
    first = needs.iloc[0]
    ent = session.get(Enterprise, int(first["enterprise_id"]))
    need = Need(
        enterprise_id=ent.id,
        district_code=ent.district_code,
        amount=float(first["amount"]),
        term_months=int(first["term_months"]),
        purpose="基准",
        collateral=list(first["collateral"]),
        channel=NeedChannel.ONLINE,
        posted_on=TODAY,
    )
    session.add(need)
    session.flush()
    times = []
    for _ in range(7):
        started = time.perf_counter()
        service.recommend(session, need=need, today=TODAY)
        times.append(time.perf_counter() - started)
    print(
        "  one firm's recommendations from the database (median of 7) "
        f"{statistics.median(times) * 1000:8.0f} ms"
    )
    session.rollback()
    session.close()

    from fastapi.testclient import TestClient

    from qiantang.auth.service import get_user_by_username, start_session
    from qiantang.web.app import create_app
    from qiantang.web.deps import SESSION_COOKIE

    with new_session() as s:
        new = start_session(s, user=get_user_by_username(s, "admin"))
        s.commit()
    client = TestClient(create_app())
    client.cookies.set(SESSION_COOKIE, new.token)
    latencies = []
    for _ in range(20):
        started = time.perf_counter()
        assert client.get("/matching").status_code == 200
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    print(
        f"  /matching as the city admin: p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {latencies[int(0.95 * len(latencies)) - 1] * 1000:.0f} ms (20 requests, in-process)"
    )
    stats_page(client)
    print(f"peak RSS {rss_mb():,.0f} MB")


def naive_stats(session, period: str) -> dict:
    """The baseline: every need of the period loaded, its events and offers read one need at a time,
    working days counted day by day (``workdays.workdays_between``), percentiles by sorting."""
    from qiantang.matching import stats, workdays
    from qiantang.matching.models import NeedEvent, Offer

    p = stats.parse_period(period)
    needs = session.scalars(select(Need).where(Need.posted_on >= p.start, Need.posted_on <= p.end)).all()
    steps: dict[str, int] = {}
    contact: list[int] = []
    for n in needs:
        events = session.scalars(select(NeedEvent).where(NeedEvent.need_id == n.id)).all()
        for e in {e.event for e in events}:
            steps[e] = steps.get(e, 0) + 1
        for o in session.scalars(select(Offer).where(Offer.need_id == n.id)).all():
            if o.claimed_on and o.contacted_on:
                contact.append(workdays.workdays_between(o.claimed_on, o.contacted_on))
    contact.sort()
    return {"steps": steps, "p50": contact[len(contact) // 2] if contact else None}


def stats_page(client) -> None:
    """The statistics page and API (issue 14: p95 < 300 ms) beside the naive per-need loop."""
    from sqlalchemy import func

    with new_session() as s:
        latest = s.scalar(select(func.max(Need.posted_on)))
        needs = s.scalar(select(func.count()).select_from(Need))
    period = str(latest.year) if latest else "2025"
    for url in (f"/matching/stats?period={period}", f"/api/v1/matching/stats?period={period}"):
        latencies = []
        for _ in range(20):
            started = time.perf_counter()
            assert client.get(url).status_code == 200
            latencies.append(time.perf_counter() - started)
        latencies.sort()
        print(
            f"  {url} ({needs:,} needs stored): p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {latencies[int(0.95 * len(latencies)) - 1] * 1000:.0f} ms (20 requests)"
        )
    with new_session() as s:
        started = time.perf_counter()
        naive_stats(s, period)
        naive = time.perf_counter() - started
    print(
        f"  naive per-need loop (funnel + contact p50 only) {naive * 1000:8.0f} ms; "
        f"ratio to the API's p50 {naive / statistics.median(latencies):.1f}×"
    )


if __name__ == "__main__":
    main()
