"""Build, compare and train models on a ``Dataset`` — one pipeline for demo, real and uploaded data.

* ``cross_validate`` — the fixed stratified k-fold split of the policy (5 folds, seed 2016), every model
  fitted on the training folds only and scored on the held-out fold: our scorecard, our LightGBM, the
  champion the platform selects (``nested=True``) and the three baselines side by side.
* ``select_champion`` — inside one training set: the scorecard's k-fold AUC against the tuned
  LightGBM's k-fold AUC on the same folds; the scorecard stays champion unless the challenger is better
  by the policy's margin (explainability first).
* ``train`` — fit the chosen kind on all rows and compute its out-of-fold predictions, validation
  metrics and development population, ready for the registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from qiantang.credit import metrics
from qiantang.credit import policy as pol
from qiantang.credit.baselines import LightGBMDefault, OptbinningDefault, PlainLogistic
from qiantang.credit.challenger import LightGBMModel
from qiantang.credit.scorecard import ScorecardModel
from qiantang.credit.tabular import Dataset
from qiantang.credit.validation import full_report, population_profile

MODEL_LABELS = {
    "scorecard": "评分卡（本平台）",
    "lightgbm": "LightGBM 挑战者（本平台，训练折内调参）",
    "champion": "冠军模型（平台嵌套交叉验证自选）",
    "optbinning_default": OptbinningDefault.label,
    "plain_logistic": PlainLogistic.label,
    "lightgbm_default": LightGBMDefault.label,
}
# Without nesting our LightGBM is fitted with the policy's fixed settings, not tuned.
QUICK_LABELS = {"lightgbm": "LightGBM 挑战者（本平台，策略固定参数）"}
OURS = ("scorecard", "lightgbm", "champion")
BASELINE_NAMES = ("optbinning_default", "plain_logistic", "lightgbm_default")
ALL_MODELS = (*OURS, *BASELINE_NAMES)
_BASELINES = {
    "optbinning_default": OptbinningDefault,
    "plain_logistic": PlainLogistic,
    "lightgbm_default": LightGBMDefault,
}


def folds_of(y: np.ndarray, *, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The documented split: StratifiedKFold(folds, shuffle=True, random_state=seed)."""
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(skf.split(np.zeros(len(y)), y))


def make_scorecard(**override: Any) -> ScorecardModel:
    return ScorecardModel(pol.scorecard_params(**override))


def make_lightgbm(**override: Any) -> LightGBMModel:
    return LightGBMModel(pol.lightgbm_params(**override))


@dataclass
class Selection:
    """The champion chosen inside one training set, with both fitted models and the evidence."""

    kind: str
    scorecard: ScorecardModel
    lightgbm: LightGBMModel | None
    inner_auc: dict[str, float]
    margin: float

    @property
    def model(self):
        return self.scorecard if self.kind == "scorecard" else self.lightgbm


def scorecard_cv_auc(data: Dataset, *, folds: int, seed: int, **params: Any) -> tuple[float, np.ndarray]:
    """k-fold AUC of the scorecard (mean over folds) and its out-of-fold scores."""
    oof = np.empty(data.n)
    aucs = []
    for train_rows, test_rows in folds_of(data.y, folds=folds, seed=seed):
        model = make_scorecard(**params).fit(data.subset(train_rows))
        oof[test_rows] = model.score(data.X.iloc[test_rows])
        aucs.append(metrics.auc(data.y[test_rows], -oof[test_rows]))
    return float(np.mean(aucs)), oof


def select_champion(
    data: Dataset,
    *,
    folds: int | None = None,
    seed: int | None = None,
    margin: float | None = None,
    candidates: Sequence[str] = ("scorecard", "lightgbm"),
    say: Callable[[str], None] | None = None,
) -> Selection:
    """Scorecard vs tuned LightGBM by k-fold AUC inside ``data``; fits the winner(s) on all of it."""
    cv = pol.cv_settings()
    folds = folds or cv["inner_folds"]
    seed = cv["seed"] if seed is None else seed
    margin = pol.challenger_margin() if margin is None else margin
    say = say or (lambda _m: None)
    inner: dict[str, float] = {}
    say("评分卡内层交叉验证")
    inner["scorecard"], _ = scorecard_cv_auc(data, folds=folds, seed=seed)
    scorecard = make_scorecard().fit(data)
    lightgbm = None
    if "lightgbm" in candidates:
        say("LightGBM 调参（训练集内交叉验证）")
        lightgbm = make_lightgbm(folds=folds, seed=seed).fit(data, tune=True)
        inner["lightgbm"] = float(lightgbm.cv_auc or 0.0)
    kind = "scorecard"
    if lightgbm is not None and inner["lightgbm"] >= inner["scorecard"] + margin:
        kind = "lightgbm"
    return Selection(kind, scorecard, lightgbm, inner, margin)


# ---------------------------------------------------------------------------------- cross-validation
@dataclass
class FoldScore:
    model: str
    fold: int
    auc: float
    ks: float
    seconds: float
    note: str = ""


def _sd(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


@dataclass
class CVReport:
    """Per fold and model: AUC and KS on the held-out fold; ``summary`` gives mean ± sd."""

    dataset: str
    rows: int
    bad_rate: float
    folds: int
    seed: int
    nested: bool
    scores: list[FoldScore] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> list[dict[str, Any]]:
        out = []
        for name in ALL_MODELS:
            mine = [s for s in self.scores if s.model == name]
            if not mine:
                continue
            auc = np.array([s.auc for s in mine])
            ks = np.array([s.ks for s in mine])
            notes = sorted({s.note for s in mine if s.note})
            out.append(
                {
                    "model": name,
                    "label": QUICK_LABELS.get(name, MODEL_LABELS[name])
                    if not self.nested
                    else MODEL_LABELS[name],
                    "ours": name in OURS,
                    "auc_mean": float(auc.mean()),
                    "auc_sd": _sd(auc),
                    "ks_mean": float(ks.mean()),
                    "ks_sd": _sd(ks),
                    "seconds": float(np.mean([s.seconds for s in mine])),
                    "note": "；".join(notes),
                }
            )
        return out

    def mean_auc(self, name: str) -> float:
        return float(np.mean([s.auc for s in self.scores if s.model == name]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "bad_rate": self.bad_rate,
            "folds": self.folds,
            "seed": self.seed,
            "nested": self.nested,
            "summary": self.summary(),
            "scores": [vars(s) for s in self.scores],
            "features": self.features,
            "dropped": self.dropped,
            "seconds": self.seconds,
        }


def cross_validate(
    data: Dataset,
    *,
    models: Sequence[str] | None = None,
    nested: bool = True,
    folds: int | None = None,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> CVReport:
    """Outer k-fold comparison of our models and the baselines on the same folds (see module doc)."""
    cv = pol.cv_settings()
    folds = folds or cv["folds"]
    seed = cv["seed"] if seed is None else seed
    models = list(models or (ALL_MODELS if nested else ("scorecard", "lightgbm", *BASELINE_NAMES)))
    if not nested and "champion" in models:
        models.remove("champion")
    say = progress or (lambda _m: None)
    report = CVReport(
        data.name,
        data.n,
        data.bad_rate,
        folds,
        seed,
        nested,
        features=[f.name for f in data.features],
        dropped=dict(data.dropped),
    )
    started = time.perf_counter()
    for k, (train_rows, test_rows) in enumerate(folds_of(data.y, folds=folds, seed=seed), start=1):
        train, test = data.subset(train_rows), data.subset(test_rows)

        def record(
            name: str, risk: np.ndarray, seconds: float, note: str = "", k: int = k, test=test
        ) -> None:
            report.scores.append(
                FoldScore(name, k, metrics.auc(test.y, risk), metrics.ks(test.y, risk), seconds, note)
            )

        if nested and ({"champion", "lightgbm"} & set(models)):
            say(f"第 {k}/{folds} 折：冠军选择（嵌套）")
            t = time.perf_counter()
            sel = select_champion(train, seed=seed)
            spent = time.perf_counter() - t
            if "scorecard" in models:
                record("scorecard", sel.scorecard.risk(test.X), spent)
            if "lightgbm" in models and sel.lightgbm is not None:
                record("lightgbm", sel.lightgbm.risk(test.X), spent)
            if "champion" in models:
                record("champion", sel.model.risk(test.X), spent, note=sel.kind)
        else:
            if "scorecard" in models:
                say(f"第 {k}/{folds} 折：评分卡")
                t = time.perf_counter()
                m = make_scorecard().fit(train)
                record("scorecard", m.risk(test.X), time.perf_counter() - t)
            if "lightgbm" in models:
                say(f"第 {k}/{folds} 折：LightGBM")
                t = time.perf_counter()
                m = make_lightgbm(seed=seed).fit(train)
                record("lightgbm", m.risk(test.X), time.perf_counter() - t)
        for name in BASELINE_NAMES:
            if name in models:
                say(f"第 {k}/{folds} 折：{MODEL_LABELS[name]}")
                t = time.perf_counter()
                b = _BASELINES[name]().fit(train)
                record(name, b.risk(test.X), time.perf_counter() - t)
    report.seconds = time.perf_counter() - started
    return report


# ------------------------------------------------------------------------------------------ training
@dataclass
class Trained:
    """A fitted model with everything the registry stores about it."""

    model: Any  # ScorecardModel | LightGBMModel
    kind: str
    validation: dict[str, Any]
    population: dict[str, Any]
    selection: dict[str, Any]
    seconds: float


def oof_predictions(
    data: Dataset, model, *, folds: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold (risk, PD, score) of the model's settings.

    Scorecard: refitted on each training fold. LightGBM: the fold models of its own cross-validation
    (the one that chose the number of trees), calibrated with the model's Platt coefficients.
    """
    if model.kind == "lightgbm" and getattr(model, "oof_raw", None) is not None:
        a, b = model.calibration
        logit = a * model.oof_raw + b
        return (
            model.oof_raw.copy(),
            1.0 / (1.0 + np.exp(-logit)),
            model.params.scaling.score_from_logit(logit),
        )
    risk = np.empty(data.n)
    pd_ = np.empty(data.n)
    score = np.empty(data.n)
    for train_rows, test_rows in folds_of(data.y, folds=folds, seed=seed):
        m = ScorecardModel(model.params).fit(data.subset(train_rows))
        X = data.X.iloc[test_rows]
        risk[test_rows] = m.risk(X)
        pd_[test_rows] = m.predict_pd(X)
        score[test_rows] = m.score(X)
    return risk, pd_, score


def train(
    data: Dataset,
    *,
    kind: str = "auto",
    say: Callable[[str], None] | None = None,
    tune: bool = True,
) -> Trained:
    """Fit ``kind`` (scorecard, lightgbm, or auto = the champion rule) on all rows, with validation."""
    say = say or (lambda _m: None)
    started = time.perf_counter()
    cv = pol.cv_settings()
    v = pol.validation_settings()
    selection: dict[str, Any] = {}
    if kind == "auto":
        sel = select_champion(data, say=say)
        model = sel.model
        kind = sel.kind
        selection = {"inner_auc": sel.inner_auc, "margin": sel.margin, "chosen": sel.kind}
        if sel.lightgbm is not None:
            selection["trials"] = getattr(sel.lightgbm, "trials", [])
    elif kind == "scorecard":
        say("训练评分卡")
        model = make_scorecard().fit(data)
    elif kind == "lightgbm":
        say("训练 LightGBM")
        model = make_lightgbm().fit(data, tune=tune)
        selection = {"trials": getattr(model, "trials", [])}
    else:
        raise ValueError(f"未知的模型类型：{kind}")
    say("样本外预测（交叉验证）")
    oof_risk, oof_pd, oof_score = oof_predictions(data, model, folds=v["oof_folds"], seed=cv["seed"])
    say("验证指标")
    validation = full_report(
        data.y, in_sample_risk=model.risk(data.X), oof_risk=oof_risk, oof_pd=oof_pd, oof_score=oof_score
    )
    population = population_profile(
        model, data.X, model.score(data.X), bands=pol.policy()["monitoring"]["score_bands"]
    )
    return Trained(model, kind, validation, population, selection, time.perf_counter() - started)


__all__ = [
    "ALL_MODELS",
    "BASELINE_NAMES",
    "MODEL_LABELS",
    "CVReport",
    "FoldScore",
    "Selection",
    "Trained",
    "cross_validate",
    "folds_of",
    "make_lightgbm",
    "make_scorecard",
    "oof_predictions",
    "select_champion",
    "train",
]
