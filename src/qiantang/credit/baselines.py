"""The three baselines every evaluation runs beside our models, on the same folds.

* ``optbinning_default`` — optbinning's own ``Scorecard`` with default settings (``BinningProcess``
  defaults, ``LogisticRegression()``);
* ``plain_logistic`` — a logistic regression on the raw features: median imputation and standard
  scaling of numbers, mode imputation and one-hot encoding of categories;
* ``lightgbm_default`` — ``LGBMClassifier()`` with default settings, categories as pandas categories.

Each has ``fit(Dataset)`` and ``risk(X)`` (larger = riskier), like our models.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from qiantang.credit.tabular import Dataset


def _numeric_names(data: Dataset) -> list[str]:
    return [f.name for f in data.features if f.kind == "numeric"]


def _categorical_names(data: Dataset) -> list[str]:
    return [f.name for f in data.features if f.kind != "numeric"]


def _with_nan(X: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    out = X.copy()
    for c in categorical:
        out[c] = out[c].astype(object).where(out[c].notna(), np.nan)
    return out


class OptbinningDefault:
    name = "optbinning_default"
    label = "optbinning Scorecard（默认设置）"

    def fit(self, data: Dataset) -> OptbinningDefault:
        from optbinning import BinningProcess, Scorecard
        from sklearn.linear_model import LogisticRegression

        self.names = [f.name for f in data.features]
        self.categorical = _categorical_names(data)
        process = BinningProcess(self.names, categorical_variables=self.categorical or None)
        self.model = Scorecard(process, LogisticRegression())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(_with_nan(data.X[self.names], self.categorical), data.y)
        return self

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.model.predict_proba(_with_nan(X[self.names], self.categorical))[:, 1]


class PlainLogistic:
    name = "plain_logistic"
    label = "普通逻辑回归（原始特征）"

    def fit(self, data: Dataset) -> PlainLogistic:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline, make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        self.numeric = _numeric_names(data)
        self.categorical = _categorical_names(data)
        parts = []
        if self.numeric:
            parts.append(
                ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), self.numeric)
            )
        if self.categorical:
            parts.append(
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                    ),
                    self.categorical,
                )
            )
        self.model = Pipeline([("prep", ColumnTransformer(parts)), ("lr", LogisticRegression(max_iter=1000))])
        self.model.fit(self._frame(data.X), data.y)
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X[self.numeric + self.categorical].copy()
        for c in self.categorical:
            out[c] = out[c].astype(object).where(out[c].notna(), np.nan)
        return out

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(self._frame(X))[:, 1]


def as_lightgbm_frame(X: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    """Numbers as they are, categories as pandas categoricals with the training categories."""
    out = {}
    for c in X.columns:
        if c in categories:
            known = set(categories[c])
            values = [str(v) if v is not None and str(v) in known else None for v in X[c].astype(object)]
            out[c] = pd.Categorical(values, categories=categories[c])
        else:
            out[c] = X[c].to_numpy(dtype=np.float64)
    return pd.DataFrame(out)


class LightGBMDefault:
    name = "lightgbm_default"
    label = "LightGBM（默认设置）"

    def fit(self, data: Dataset) -> LightGBMDefault:
        from lightgbm import LGBMClassifier

        self.names = [f.name for f in data.features]
        self.categories = {
            c: sorted({str(v) for v in data.X[c] if v is not None}) for c in _categorical_names(data)
        }
        self.model = LGBMClassifier(verbose=-1)
        self.model.fit(as_lightgbm_frame(data.X[self.names], self.categories), data.y)
        return self

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(as_lightgbm_frame(X[self.names], self.categories))[:, 1]


BASELINES = (OptbinningDefault, PlainLogistic, LightGBMDefault)

__all__ = ["BASELINES", "LightGBMDefault", "OptbinningDefault", "PlainLogistic", "as_lightgbm_frame"]
