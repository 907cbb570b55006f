"""Benchmark: the early-warning computation on a demo database, against the 60-second goal.

Times ``qiantang.earlywarning.service.run`` — panel, indicators, peer bands, signals, ratings with the
LightGBM challenger, alerts and the hand-over to the cases service — with its steps and the peak RSS of
this process, then prints the backtest table. As a named baseline in the same run it computes the same
indicators row by row in plain Python (dicts, one return at a time, lags by dictionary look-up) over the
same filings and prints the ratio against the vectorised pandas/NumPy path, after checking that both
give the same values. It prints figures; it asserts nothing.

    python benchmarks/earlywarning.py            # /tmp/qiantang-ew-city.db, built if absent
    python benchmarks/earlywarning.py --database-url sqlite:////tmp/ew_city.db
    python benchmarks/earlywarning.py --database-url postgresql+psycopg://user:pw@localhost/db --scale small

Building a database runs ``qiantang db upgrade`` and ``qiantang demo load`` as subprocesses (the demo
loader itself runs the early warning once at its end); the timed run is the recomputation afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

GOAL_SECONDS = 60.0
DEFAULT_URL = "sqlite:////tmp/qiantang-ew-city.db"


def qiantang_command() -> list[str]:
    script = Path(sys.executable).with_name("qiantang")
    if script.exists():
        return [str(script)]
    found = shutil.which("qiantang")
    return [found] if found else [sys.executable, "-c", "from qiantang.cli import app; app()"]


def ensure_database(url: str, scale: str) -> None:
    """Build the demo city into ``url`` unless it already holds institutions."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            has = (
                "institutions" in inspect(conn).get_table_names()
                and conn.execute(text("SELECT COUNT(*) FROM institutions")).scalar()
            )
    finally:
        engine.dispose()
    if has:
        return
    env = {**os.environ, "QIANTANG_DATABASE_URL": url}
    print(f"Building the {scale} demo city into {url} (db upgrade + demo load) …", flush=True)
    started = time.perf_counter()
    for args in (["db", "upgrade"], ["demo", "load", "--scale", scale]):
        subprocess.run([*qiantang_command(), *args], env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"  built in {time.perf_counter() - started:.1f} s\n")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------------------------------- the baseline
def _ratio(num, den, scale=100.0, cap=9_999.0, nonpositive="cap"):
    if num is None or den is None:
        return None
    if den <= 0:
        if nonpositive != "cap":
            return None
        return cap if num > 0 else (0.0 if num == 0 else None)
    return scale * num / den


def _mult(num, den):
    return _ratio(num, den, scale=1.0, cap=999.0)


CASH = {"small_loan", "financing_guarantee", "pawnshop", "finance_leasing", "commercial_factoring"}


def baseline_indicators(
    filings: list[tuple], capital_wan: dict[int, float]
) -> dict[tuple[int, int, str], float]:
    """The indicators of indicators.py, one return at a time in plain Python."""
    by_key = {}
    for inst, pq, template, data in filings:
        by_key[(inst, pq)] = (template, data)
    # Which balance is each type's main one is data shared with the platform; the code is not.
    from qiantang.earlywarning.indicators import MAIN_BALANCE as MAIN

    out: dict[tuple[int, int, str], float] = {}

    def g(d, k):
        v = d.get(k)
        return None if v is None else float(v)

    def put(inst, pq, code, v):
        if v is not None:
            out[(inst, pq, code)] = v

    for (inst, pq), (template, d) in by_key.items():
        q = pq % 4 + 1
        prev = by_key.get((inst, pq - 1), (None, {}))[1]
        last_year = by_key.get((inst, pq - 4), (None, {}))[1]
        eq, ta = g(d, "equity"), g(d, "total_assets")
        cap = g(d, "registered_capital")
        cap = cap if cap is not None else capital_wan.get(inst)
        profit = g(d, "net_profit")
        annual = None if profit is None else profit * 4.0 / q
        main, main_prev, main_ly = g(d, MAIN[template]), g(prev, MAIN[template]), g(last_year, MAIN[template])
        eq_prev = g(prev, "equity")
        put(inst, pq, "equity_to_capital", _ratio(eq, cap, nonpositive="nan"))
        put(inst, pq, "debt_ratio", _ratio(g(d, "total_liabilities"), ta, nonpositive="nan"))
        put(inst, pq, "roa", _ratio(annual, ta, nonpositive="nan"))
        put(inst, pq, "roe", _ratio(annual, eq, nonpositive="nan"))
        if main is not None and main_prev is not None:
            put(inst, pq, "growth_qoq", _ratio(main - main_prev, main_prev, nonpositive="nan"))
        if main is not None and main_ly is not None:
            put(inst, pq, "growth_yoy", _ratio(main - main_ly, main_ly, nonpositive="nan"))
        if eq is not None and eq_prev is not None:
            put(inst, pq, "equity_qoq", _ratio(eq - eq_prev, eq_prev, nonpositive="nan"))
        if template in CASH:
            put(inst, pq, "cash_ratio", _ratio(g(d, "cash_and_deposits"), ta, nonpositive="nan"))
        if template == "small_loan":
            loans, npl = g(d, "loan_balance"), g(d, "npl_balance")
            put(
                inst,
                pq,
                "sl_nonstd_leverage",
                _mult(g(d, "bank_borrowings") + g(d, "shareholder_borrowings"), eq),
            )
            put(inst, pq, "sl_std_leverage", _mult(g(d, "bond_abs_financing"), eq))
            put(inst, pq, "sl_bank_funding", _ratio(g(d, "bank_borrowings"), eq))
            put(inst, pq, "sl_single_borrower", _ratio(g(d, "largest_borrower_balance"), eq))
            od90 = g(d, "overdue_91_180") + g(d, "overdue_181_360") + g(d, "overdue_over_360")
            put(inst, pq, "sl_overdue90_share", _ratio(od90, loans, nonpositive="nan"))
            put(inst, pq, "sl_npl_ratio", _ratio(npl, loans, nonpositive="nan"))
            put(
                inst, pq, "sl_provision_coverage", _ratio(g(d, "loan_loss_provision"), npl, nonpositive="nan")
            )
        elif template == "financing_guarantee":
            gb = g(d, "financing_guarantee_balance")
            put(inst, pq, "fg_leverage", _mult(gb, eq))
            put(inst, pq, "fg_single_party", _ratio(g(d, "largest_party_balance"), eq))
            put(inst, pq, "fg_single_related", _ratio(g(d, "largest_party_related_balance"), eq))
            paid = g(d, "compensation_paid")
            put(inst, pq, "fg_compensation_rate", _ratio(paid * 4.0 / q, gb, nonpositive="nan"))
        elif template == "pawnshop":
            put(
                inst,
                pq,
                "pw_single_customer",
                _ratio(g(d, "largest_customer_balance"), g(d, "registered_capital")),
            )
            put(
                inst,
                pq,
                "pw_real_estate",
                _ratio(g(d, "real_estate_pawn_balance"), g(d, "registered_capital")),
            )
            put(
                inst,
                pq,
                "pw_overdue_share",
                _ratio(g(d, "overdue_pawn_balance"), g(d, "pawn_balance"), nonpositive="nan"),
            )
        elif template in ("finance_leasing", "commercial_factoring"):
            risk = ta - g(d, "cash_and_deposits") - g(d, "government_bonds")
            if template == "finance_leasing":
                put(inst, pq, "fl_risk_leverage", _mult(risk, eq))
                put(inst, pq, "fl_leasing_share", _ratio(g(d, "leasing_assets"), ta, nonpositive="nan"))
                put(inst, pq, "fl_single_lessee", _ratio(g(d, "largest_lessee_balance"), eq))
                put(
                    inst,
                    pq,
                    "fl_npl_ratio",
                    _ratio(g(d, "npl_balance"), g(d, "leasing_assets"), nonpositive="nan"),
                )
            else:
                put(inst, pq, "cf_risk_leverage", _mult(risk, eq))
                put(
                    inst,
                    pq,
                    "cf_single_debtor",
                    _ratio(g(d, "largest_debtor_balance"), risk, nonpositive="nan"),
                )
                put(
                    inst,
                    pq,
                    "cf_overdue90_share",
                    _ratio(g(d, "overdue_90_balance"), g(d, "factoring_balance"), nonpositive="nan"),
                )
    return out


def read_filings_plain(session) -> tuple[list[tuple], dict[int, float]]:
    """The current filings as (institution, quarter, template, data) and the registry capital (万元)."""
    raw = session.connection().connection.dbapi_connection
    cur = raw.cursor()
    cur.execute(
        "SELECT institution_id, period_end, template_code, CAST(data AS TEXT) FROM filings WHERE is_current"
    )
    rows = []
    for inst, day, template, data in cur.fetchall():
        day = str(day)
        pq = int(day[:4]) * 4 + (int(day[5:7]) - 1) // 3
        rows.append((inst, pq, template, json.loads(data)))
    cur.execute("SELECT id, registered_capital FROM institutions")
    capital = {i: (float(c) / 10_000.0 if c is not None else None) for i, c in cur.fetchall()}
    cur.close()
    return rows, capital


def bench_baseline(session) -> dict[str, float]:
    from qiantang.earlywarning import indicators
    from qiantang.earlywarning.panel import load_panel

    clock = time.perf_counter()
    panel = load_panel(session)
    vec_read = time.perf_counter() - clock
    clock = time.perf_counter()
    wide = indicators.compute(panel)
    long = indicators.to_long(panel, wide)
    vec_compute = time.perf_counter() - clock

    clock = time.perf_counter()
    filings, capital = read_filings_plain(session)
    plain_read = time.perf_counter() - clock
    clock = time.perf_counter()
    base = baseline_indicators(filings, capital)
    plain_compute = time.perf_counter() - clock

    # Same values? Compare every value the baseline computes.
    codes = {k[2] for k in base}
    sub = long[long["code"].isin(codes)]
    vec = dict(
        zip(zip(sub["institution_id"], sub["pq"], sub["code"], strict=True), sub["value"], strict=True)
    )
    common = set(vec) & set(base)
    diff = max((abs(vec[k] - base[k]) / max(1.0, abs(base[k])) for k in common), default=0.0)
    per_value_vec = vec_compute / max(len(long), 1)
    per_value_plain = plain_compute / max(len(base), 1)
    return {
        "vec_read": vec_read,
        "vec_compute": vec_compute,
        "plain_read": plain_read,
        "plain_compute": plain_compute,
        "ratio_compute": plain_compute / vec_compute if vec_compute else float("nan"),
        "ratio_per_value": per_value_plain / per_value_vec if per_value_vec else float("nan"),
        "ratio_total": (plain_read + plain_compute) / (vec_read + vec_compute),
        "values_vectorised": len(long),
        "values_plain": len(base),
        "compared": len(common),
        "only_one_side": len(set(vec) ^ set(base)),
        "max_rel_diff": diff,
        "filings": len(filings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--scale", default="city", choices=["tiny", "small", "city"])
    parser.add_argument("--no-commit", action="store_true", help="roll the recomputation back afterwards")
    args = parser.parse_args()
    ensure_database(args.database_url, args.scale)

    from sqlalchemy.orm import Session

    from qiantang.db import make_engine, use_engine
    from qiantang.earlywarning import service
    from qiantang.earlywarning.backtest import run_backtest

    engine = make_engine(args.database_url)
    use_engine(engine)
    print(f"Database: {engine.url.render_as_string(hide_password=True)} · {os.cpu_count()} CPUs")
    rss_before = rss_mb()
    with Session(engine) as session:
        started = time.perf_counter()
        run = service.run(session, triggered_by="benchmark")
        seconds = time.perf_counter() - started
        rss_run = rss_mb()
        if args.no_commit:
            session.flush()
        else:
            session.commit()
        c = run.counts
        print("\nEarly-warning run (indicators, peer bands, signals, ratings + challenger, alerts, cases)")
        print(
            f"  time         {seconds:8.1f} s   "
            f"({100 * seconds / GOAL_SECONDS:.0f}% of the {GOAL_SECONDS:.0f} s goal)"
        )
        print(f"  peak RSS     {rss_run:8.0f} MB  (process; {rss_before:.0f} MB before the run)")
        print(
            f"  panel        {c['panel_rows']:,} institution-quarters of {c['institutions']:,} institutions, "
            f"{c['filings']:,} returns"
        )
        print(
            f"  stored       {c['indicators']:,} indicator values, {c['peer_bands']:,} peer bands, "
            f"{c['signals']:,} signals, {c['ratings']:,} ratings"
        )
        print(f"  signals      {c['signals_by_family']}")
        print(f"  alerts       {c['alerts']}")
        print(
            f"  challenger   {c['challenger']['status']}: "
            + ", ".join(f"{y} {v['status']}" for y, v in c["challenger"]["years"].items())
        )
        print("  steps (s)    " + ", ".join(f"{k} {v:.1f}" for k, v in c["timings"].items()))

        print("\nBaseline: the indicators row by row in plain Python over the same filings")
        b = bench_baseline(session)
        print(f"  {'':34} {'read':>7} {'compute':>8} {'values':>10}")
        print(
            f"  {'vectorised (pandas/NumPy)':34} {b['vec_read']:6.2f}s {b['vec_compute']:7.2f}s "
            f"{b['values_vectorised']:>10,}"
        )
        print(
            f"  {'plain Python (dicts, row by row)':34} {b['plain_read']:6.2f}s {b['plain_compute']:7.2f}s "
            f"{b['values_plain']:>10,}  (a subset of the indicators)"
        )
        print(
            f"  ratio plain / vectorised: compute {b['ratio_compute']:.1f}×, per value computed "
            f"{b['ratio_per_value']:.1f}×, read + compute {b['ratio_total']:.1f}×"
        )
        print(
            f"  check: {b['compared']:,} values compared, max relative difference {b['max_rel_diff']:.2e}, "
            f"{b['only_one_side']:,} on one side only"
        )

        print(
            "\nBacktest over the demo history (synthetic city: distress comes from a latent health process,"
        )
        print("not from any warning rule — see docs/methods/demo-city.md §7)")
        started = time.perf_counter()
        bt = run_backtest(session)
        print(bt.table())
        print(f"(backtest {time.perf_counter() - started:.1f} s)")
        if args.no_commit:
            session.rollback()
    engine.dispose()


if __name__ == "__main__":
    main()
