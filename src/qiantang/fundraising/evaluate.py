"""Evaluation on any labelled table: the rule index beside learned models, by stratified 5-fold CV.

The table has one row per entity, a label column, and (some of) the documented indicator columns
(``features.TABLE_COLUMNS``). Four rankings are compared on the same folds:

* **rule index** — the index of ``data/index.toml`` computed from the documented columns (nothing is
  fitted; the folds only give the spread of its figures);
* **LightGBM, monotone** — on all numeric columns and the derived indicators, with monotone
  constraints where the direction is known (more investors, complaints, promised return → riskier;
  licensed, more paid-in capital → safer), its size tuned by an inner 3-fold CV on the training folds;
* **logistic regression** — median-imputed, standardised, default regularisation;
* **LightGBM, default** — the library's defaults.

Figures per model: AUC, KS (max TPR − FPR) and precision among the top 10 % of each test fold, as
mean and standard deviation over the folds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from qiantang.fundraising.features import table_features
from qiantang.fundraising.index import score_frame
from qiantang.fundraising.keywords import matcher

FOLDS = 5
SEED = 20_240_820
# Derived indicator columns and the direction of their effect on risk (+1 riskier, −1 safer, 0 unknown).
DIRECTIONS = {
    "promised_return": 1,
    "return_vs_cap": 1,
    "investors": 1,
    "investor_growth": 1,
    "complaints": 1,
    "kw_weight": 1,
    "fin_name_unlicensed": 1,
    "fin_scope_unlicensed": 1,
    "banned_scope": 1,
    "young_big": 1,
    "licensed_flag": -1,
    "paid_in_share": -1,
    "age_years": 0,
    "registered_capital_wan": 0,
}
GRID = {"num_leaves": (7, 15), "min_child_samples": (10, 40), "n_estimators": (100, 300)}


@dataclass
class ModelResult:
    name: str
    auc: tuple[float, float]
    ks: tuple[float, float]
    precision_top10: tuple[float, float]
    note: str = ""


@dataclass
class Evaluation:
    rows: int
    bad: int
    columns: list[str]
    missing: list[str]
    models: list[ModelResult]
    version: str


def read_table(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        return pd.read_excel(path)
    return pd.read_csv(path, encoding="utf-8-sig")


def model_matrix(table: pd.DataFrame, feats: pd.DataFrame, label: str) -> pd.DataFrame:
    """Numeric design matrix: the derived indicators, keyword classes and the table's other numbers."""
    x = pd.DataFrame(index=table.index)
    for col in DIRECTIONS:
        if col in feats:
            x[col] = pd.to_numeric(feats[col], errors="coerce")
    if "licensed" in feats:
        x["licensed_flag"] = feats["licensed"].astype(float)
    if "paid_in_capital_wan" in feats and "registered_capital_wan" in feats:
        x["paid_in_share"] = feats["paid_in_capital_wan"] / feats["registered_capital_wan"].where(
            feats["registered_capital_wan"] > 0
        )
    if "founded_on" in feats:
        x["age_years"] = (pd.Timestamp(date.today()) - feats["founded_on"]).dt.days / 365.25
    if "kw_classes" in feats:
        for code, cls in matcher().classes.items():
            x[f"kw_{code}"] = feats["kw_classes"].str.contains(cls.zh, regex=False).astype(float)
    for col in table.columns:  # any other numeric column of the table
        if col == label or col in x or col in feats.columns:
            continue
        v = pd.to_numeric(table[col], errors="coerce")
        if v.notna().mean() > 0.5:
            x[col] = v
    if "district" in table:
        x["district"] = table["district"].astype("category")
    return x.loc[:, x.notna().any()]


def _ks(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, s)
    return float(np.max(tpr - fpr))


def _top(y: np.ndarray, s: np.ndarray, share: float = 0.1) -> float:
    k = max(1, round(share * len(s)))
    order = np.argsort(-s, kind="stable")[:k]
    return float(y[order].mean())


def _lgbm(params: dict, monotone: list[int] | None):
    from lightgbm import LGBMClassifier

    kw = {"verbose": -1, "random_state": SEED, "n_jobs": 1, "learning_rate": 0.05} | params
    if monotone is not None:
        kw["monotone_constraints"] = monotone
        kw["monotone_constraints_method"] = "advanced"
    return LGBMClassifier(**kw)


def _tuned_monotone(x: pd.DataFrame, y: np.ndarray, monotone: list[int]):
    """The monotone LightGBM with the grid point that has the best inner-CV AUC, refitted."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    inner = StratifiedKFold(n_splits=3, shuffle=True, random_state=SEED)
    best, best_auc = None, -1.0
    for values in itertools.product(*GRID.values()):
        params = dict(zip(GRID, values, strict=True))
        aucs = []
        for tr, te in inner.split(x, y):
            if y[tr].sum() == 0 or y[te].sum() == 0:
                continue
            m = _lgbm(params, monotone).fit(x.iloc[tr], y[tr])
            aucs.append(roc_auc_score(y[te], m.predict_proba(x.iloc[te])[:, 1]))
        auc = float(np.mean(aucs)) if aucs else 0.0
        if auc > best_auc:
            best, best_auc = params, auc
    return _lgbm(best or {}, monotone).fit(x, y)


def evaluate_table(table: pd.DataFrame, label: str, bad: str, *, as_of: date | None = None) -> Evaluation:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if label not in table:
        raise ValueError(f"表中没有标签列“{label}”")
    table = table.reset_index(drop=True)
    y = (table[label].astype(str).str.strip() == str(bad).strip()).to_numpy().astype(int)
    if y.sum() < FOLDS or (len(y) - y.sum()) < FOLDS:
        raise ValueError(f"标签“{bad}”的样本（{y.sum()}）或其余样本太少，无法做 {FOLDS} 折交叉验证")
    feats = table_features(table.drop(columns=[label]), as_of)
    rule = score_frame(feats, reasons=False)["score"].to_numpy()
    x = model_matrix(table, feats, label)
    numeric = x.drop(columns=[c for c in ("district",) if c in x])
    monotone = [DIRECTIONS.get(c, 0) for c in x.columns]
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    scores: dict[str, list[tuple[float, float, float]]] = {k: [] for k in ("rule", "mono", "logit", "lgbm")}
    for tr, te in folds.split(x, y):
        preds = {"rule": rule[te]}
        preds["mono"] = _tuned_monotone(x.iloc[tr], y[tr], monotone).predict_proba(x.iloc[te])[:, 1]
        logit = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(max_iter=2000),
        )
        preds["logit"] = logit.fit(numeric.iloc[tr], y[tr]).predict_proba(numeric.iloc[te])[:, 1]
        preds["lgbm"] = _lgbm({}, None).fit(x.iloc[tr], y[tr]).predict_proba(x.iloc[te])[:, 1]
        for k, p in preds.items():
            scores[k].append((roc_auc_score(y[te], p), _ks(y[te], p), _top(y[te], p)))
    names = {
        "rule": "规则指数 rule index",
        "mono": "LightGBM 单调约束（折内调参）monotone, tuned",
        "logit": "逻辑回归 logistic regression",
        "lgbm": "LightGBM 默认参数 default",
    }
    models = []
    for k, rows in scores.items():
        a = np.array(rows)
        mean, sd = a.mean(axis=0), a.std(axis=0)
        models.append(ModelResult(names[k], (mean[0], sd[0]), (mean[1], sd[1]), (mean[2], sd[2])))
    from qiantang.fundraising.features import TABLE_COLUMNS
    from qiantang.fundraising.index import config

    present = [c for c in TABLE_COLUMNS if c in table]
    return Evaluation(
        rows=len(y),
        bad=int(y.sum()),
        columns=present,
        missing=[c for c in TABLE_COLUMNS if c not in table],
        models=models,
        version=config().version,
    )


def demo_table(
    session, *, snapshot: date | None = None, horizon_days: int = 365
) -> tuple[pd.DataFrame, date]:
    """The watched firms as a table with the documented columns, as known on ``snapshot`` (default:
    one horizon before the data's end), labelled ``collapsed`` = 是 when the firm collapsed within the
    horizon after it. Firms already collapsed on the snapshot are left out."""
    from sqlalchemy import select

    from qiantang.fundraising.features import features_as_of
    from qiantang.fundraising.models import FirmText
    from qiantang.fundraising.service import data_date, load_bundle

    end = data_date(session)
    snap = snapshot or (pd.Timestamp(end) - pd.Timedelta(days=horizon_days)).date()
    b = load_bundle(session)
    f = features_as_of(b, snap)
    col = b.collapses.set_index("enterprise_id")["collapsed_on"]
    f = f[~f.index.isin(col[col <= pd.Timestamp(snap)].index)]
    start = pd.Timestamp(snap) - pd.Timedelta(days=365)
    texts = pd.DataFrame(
        session.execute(
            select(FirmText.enterprise_id, FirmText.published_on, FirmText.text).where(
                FirmText.published_on > start.date(), FirmText.published_on <= snap
            )
        ).all(),
        columns=["enterprise_id", "published_on", "text"],
    )
    ad = texts.groupby("enterprise_id")["text"].agg(lambda s: "。".join(s))
    later = set(
        col[(col > pd.Timestamp(snap)) & (col <= pd.Timestamp(snap) + pd.Timedelta(days=horizon_days))].index
    )
    table = pd.DataFrame(
        {
            "name": f["name"],
            "founded_on": pd.to_datetime(f["founded_on"]).dt.date,
            "registered_capital": f["registered_capital"] / 10_000,
            "paid_in_capital": f["paid_in_capital"] / 10_000,
            "promised_return": f["promised_return"],
            "investors": f["investors"],
            "investor_growth": f["investor_growth"],
            "complaints": f["complaints"],
            "business_scope": f["business_scope"],
            "ad_text": ad.reindex(f.index).fillna(""),
            "licensed": np.where(f["licensed"], "是", "否"),
            "district": f["district_code"],
            "collapsed": np.where(f.index.isin(list(later)), "是", "否"),
        }
    ).reset_index(drop=True)
    return table, snap
