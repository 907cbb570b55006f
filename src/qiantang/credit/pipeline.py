"""Build, compare and train models on a ``Dataset`` — one pipeline for demo, real and uploaded data.

* ``cross_validate`` — the fixed stratified k-fold split of the policy (5 folds, seed 2016), every model
  fitted on the training folds only and scored on the held-out fold: our scorecard, our LightGBM, the
  champion the platform selects (``nested=True``) and the three baselines side by side.
* ``select_champion`` — inside one training set, on the same k folds: the scorecard, a calibrated blend
  of scorecard and LightGBM (``blend.py``) and the tuned LightGBM; a more complex candidate wins only
  if it beats every simpler one by more than max(the policy's margin, one standard error of the
  fold-wise AUC difference) — explainability first. The choice's stability is reported as the share of
  bootstrap resamples (and, in nested cross-validation, of outer folds) in which each candidate wins.
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
from qiantang.credit.blend import BlendModel, BlendParams, LinearModel, fit_stack, stacked_oof
from qiantang.credit.challenger import LightGBMModel
from qiantang.credit.scorecard import ScorecardModel
from qiantang.credit.tabular import Dataset
from qiantang.credit.validation import full_report, population_profile

MODEL_LABELS = {
    "scorecard": "评分卡（本平台）",
    "lightgbm": "LightGBM 挑战者（本平台，训练折内调参）",
    "blend": "校准融合：评分卡 + LightGBM + 线性（本平台）",
    "champion": "冠军模型（平台嵌套交叉验证自选）",
    "optbinning_default": OptbinningDefault.label,
    "plain_logistic": PlainLogistic.label,
    "lightgbm_default": LightGBMDefault.label,
}
# Without nesting our LightGBM is fitted with the policy's fixed settings, not tuned.
QUICK_LABELS = {"lightgbm": "LightGBM 挑战者（本平台，策略固定参数）"}
OURS = ("scorecard", "blend", "lightgbm", "champion")
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


SIMPLER_FIRST = ("scorecard", "blend", "lightgbm")  # the order of explainability


@dataclass
class Selection:
    """The champion chosen inside one training set, with the fitted models and the evidence."""

    kind: str
    scorecard: ScorecardModel
    lightgbm: LightGBMModel | None
    inner_auc: dict[str, float]
    margin: float
    blend: BlendModel | None = None
    fold_auc: dict[str, list[float]] = field(default_factory=dict)
    stability: dict[str, float] = field(default_factory=dict)

    @property
    def model(self):
        return {"scorecard": self.scorecard, "lightgbm": self.lightgbm, "blend": self.blend}[self.kind]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "inner_auc": self.inner_auc,
            "fold_auc": self.fold_auc,
            "margin": self.margin,
            "chosen": self.kind,
            "stability": self.stability,
        }
        if self.lightgbm is not None:
            out["trials"] = getattr(self.lightgbm, "trials", [])
        if self.blend is not None:
            p = self.blend.params
            out["blend_weights"] = {
                "intercept": p.intercept,
                "scorecard": p.w_scorecard,
                "lightgbm": p.w_lightgbm,
                "linear": p.w_linear,
            }
        return out


def scorecard_cv(data: Dataset, *, folds: int, seed: int, **params: Any) -> tuple[list[float], np.ndarray]:
    """Per-fold AUCs of the scorecard and its out-of-fold scores."""
    oof = np.empty(data.n)
    aucs = []
    for train_rows, test_rows in folds_of(data.y, folds=folds, seed=seed):
        model = make_scorecard(**params).fit(data.subset(train_rows))
        oof[test_rows] = model.score(data.X.iloc[test_rows])
        aucs.append(metrics.auc(data.y[test_rows], -oof[test_rows]))
    return aucs, oof


def linear_oof(data: Dataset, *, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold log-odds of the blend's linear part (``blend.LinearModel``)."""
    oof = np.empty(data.n)
    for train_rows, test_rows in folds_of(data.y, folds=folds, seed=seed):
        oof[test_rows] = LinearModel().fit(data.subset(train_rows)).raw(data.X.iloc[test_rows])
    return oof


def scorecard_cv_auc(data: Dataset, *, folds: int, seed: int, **params: Any) -> tuple[float, np.ndarray]:
    """k-fold AUC of the scorecard (mean over folds) and its out-of-fold scores."""
    aucs, oof = scorecard_cv(data, folds=folds, seed=seed, **params)
    return float(np.mean(aucs)), oof


def choose_kind(fold_auc: dict[str, Sequence[float]], *, margin: float) -> str:
    """One-standard-error rule, simpler first: the best candidate by mean fold AUC wins only if it beats
    each simpler candidate by more than max(margin, one standard error of the fold-wise difference);
    otherwise the simplest candidate within that distance of it is chosen."""
    kinds = [k for k in SIMPLER_FIRST if k in fold_auc]
    means = {k: float(np.mean(fold_auc[k])) for k in kinds}
    best = max(kinds, key=lambda k: (means[k], -kinds.index(k)))
    for k in kinds:
        if k == best:
            return k
        diff = np.asarray(fold_auc[best], dtype=float) - np.asarray(fold_auc[k], dtype=float)
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        if diff.mean() <= max(margin, se):
            return k
    return best


def bootstrap_stability(
    y: np.ndarray, risks: dict[str, np.ndarray], *, margin: float, resamples: int, seed: int
) -> dict[str, float]:
    """Share of stratified bootstrap resamples of the out-of-fold predictions in which each candidate
    would be chosen (simpler first unless beaten by more than the margin)."""
    rng = np.random.default_rng(seed)
    bad, good = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    kinds = [k for k in SIMPLER_FIRST if k in risks]
    wins = dict.fromkeys(kinds, 0)
    for _ in range(resamples):
        rows = np.concatenate([rng.choice(bad, len(bad)), rng.choice(good, len(good))])
        aucs = {k: metrics.auc(y[rows], risks[k][rows]) for k in kinds}
        best = max(kinds, key=lambda k: (aucs[k], -kinds.index(k)))
        chosen = next(k for k in kinds if aucs[best] - aucs[k] <= margin)
        wins[chosen] += 1
    return {k: wins[k] / resamples for k in kinds}


def select_champion(
    data: Dataset,
    *,
    folds: int | None = None,
    seed: int | None = None,
    margin: float | None = None,
    candidates: Sequence[str] = SIMPLER_FIRST,
    say: Callable[[str], None] | None = None,
    stability: bool = True,
) -> Selection:
    """Scorecard, blend and tuned LightGBM by k-fold AUC inside ``data`` on the same folds (the rule of
    ``choose_kind``); fits every candidate on all of it."""
    cv = pol.cv_settings()
    folds = folds or cv["inner_folds"]
    seed = cv["seed"] if seed is None else seed
    margin = pol.challenger_margin() if margin is None else margin
    say = say or (lambda _m: None)
    split = folds_of(data.y, folds=folds, seed=seed)
    fold_auc: dict[str, list[float]] = {}
    risks: dict[str, np.ndarray] = {}
    say("评分卡内层交叉验证")
    fold_auc["scorecard"], sc_oof = scorecard_cv(data, folds=folds, seed=seed)
    scorecard = make_scorecard().fit(data)
    sc_logit = scorecard.params.scaling.logit_from_score(sc_oof)
    risks["scorecard"] = sc_logit
    lightgbm = blend = None
    if "lightgbm" in candidates or "blend" in candidates:
        say("LightGBM 调参（训练集内交叉验证）")
        lightgbm = make_lightgbm(folds=folds, seed=seed).fit(data, tune=True)
        lgb_raw = lightgbm.oof_raw
        if "lightgbm" in candidates:
            fold_auc["lightgbm"] = [metrics.auc(data.y[t], lgb_raw[t]) for _, t in split]
            risks["lightgbm"] = lgb_raw
        if "blend" in candidates:
            say("融合模型（训练集内交叉拟合）")
            inputs = np.column_stack([sc_logit, lgb_raw, linear_oof(data, folds=folds, seed=seed)])
            risks["blend"], fold_auc["blend"] = stacked_oof(inputs, data.y, split)
            a, weights = fit_stack(inputs, data.y)
            ws, wg, wl = (float(w) for w in weights)
            blend = BlendModel(
                scorecard,
                lightgbm,
                BlendParams(
                    intercept=a, w_scorecard=ws, w_lightgbm=wg, w_linear=wl, scaling=scorecard.params.scaling
                ),
                linear=LinearModel().fit(data),
            )
    kind = choose_kind(fold_auc, margin=margin)
    inner = {k: float(np.mean(v)) for k, v in fold_auc.items()}
    shares = {}
    if stability and len(risks) > 1:
        v = pol.validation_settings()
        shares = bootstrap_stability(data.y, risks, margin=margin, resamples=v["bootstrap"], seed=seed)
    return Selection(
        kind,
        scorecard,
        lightgbm,
        inner,
        margin,
        blend=blend,
        fold_auc={k: [round(x, 5) for x in v] for k, v in fold_auc.items()},
        stability=shares,
    )


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
    selections: list[dict[str, Any]] = field(default_factory=list)  # nested: the choice in each outer fold

    def stability(self) -> dict[str, float]:
        """Share of outer folds in which each candidate was chosen champion (nested runs)."""
        chosen = [s["chosen"] for s in self.selections]
        return {k: chosen.count(k) / len(chosen) for k in SIMPLER_FIRST} if chosen else {}

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
            "selections": [{k: v for k, v in sel.items() if k != "trials"} for sel in self.selections],
            "stability": self.stability(),
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
            if "blend" in models and sel.blend is not None:
                record("blend", sel.blend.risk(test.X), spent)
            if "lightgbm" in models and sel.lightgbm is not None:
                record("lightgbm", sel.lightgbm.risk(test.X), spent)
            if "champion" in models:
                record("champion", sel.model.risk(test.X), spent, note=sel.kind)
            report.selections.append({"fold": k, "chosen": sel.kind, **sel.as_dict()})
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
    if model.kind == "blend":  # the LightGBM part's out-of-fold scores come from the same split
        _, sc_oof = scorecard_cv(data, folds=folds, seed=seed)
        sc_logit = model.scorecard.params.scaling.logit_from_score(sc_oof)
        split = folds_of(data.y, folds=folds, seed=seed)
        inputs = np.column_stack([sc_logit, model.lightgbm.oof_raw, linear_oof(data, folds=folds, seed=seed)])
        logit, _ = stacked_oof(inputs, data.y, split)
        return logit, 1.0 / (1.0 + np.exp(-logit)), model.params.scaling.score_from_logit(logit)
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
    """Fit ``kind`` (scorecard, lightgbm, blend, or auto = the champion rule) on all rows, with validation."""
    say = say or (lambda _m: None)
    started = time.perf_counter()
    cv = pol.cv_settings()
    v = pol.validation_settings()
    selection: dict[str, Any] = {}
    if kind == "auto":
        sel = select_champion(data, say=say)
        model = sel.model
        kind = sel.kind
        selection = sel.as_dict()
    elif kind == "blend":
        sel = select_champion(data, say=say, candidates=("scorecard", "blend"), stability=False)
        model = sel.blend
        selection = sel.as_dict() | {"chosen": "blend"}
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
    "choose_kind",
    "cross_validate",
    "folds_of",
    "make_lightgbm",
    "make_scorecard",
    "oof_predictions",
    "select_champion",
    "train",
]
