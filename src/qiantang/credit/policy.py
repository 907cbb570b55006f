"""The credit policy as data: scaling, reasons, PSI thresholds, CV split, tuning grid and master scale.

Read from ``credit/data/policy.toml`` and ``credit/data/master_scale.csv`` (both documented in
docs/methods/credit-scoring.md); nothing here is a constant buried in code.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from qiantang.credit.challenger import LightGBMParams
from qiantang.credit.scorecard import Scaling, ScorecardParams


@cache
def policy() -> dict[str, Any]:
    with (resources.files("qiantang.credit") / "data" / "policy.toml").open("rb") as fh:
        return tomllib.load(fh)


def scaling(**override: float) -> Scaling:
    values = {**policy()["scaling"], **{k: v for k, v in override.items() if v is not None}}
    return Scaling(
        base_score=float(values["base_score"]), base_odds=float(values["base_odds"]), pdo=float(values["pdo"])
    )


def scorecard_params(**override: Any) -> ScorecardParams:
    values = dict(policy()["scorecard"])
    scale = override.pop("scaling", None) or scaling()
    values.update(override)
    return ScorecardParams.from_dict({**values, "scaling": vars(scale)})


def lightgbm_params(**override: Any) -> LightGBMParams:
    conf = dict(policy()["lightgbm"])
    grid = conf.pop("grid")
    defaults = conf.pop("defaults")
    scale = override.pop("scaling", None) or scaling()
    values = {**conf, **defaults, "grid": grid, **override, "scaling": vars(scale)}
    return LightGBMParams.from_dict(values)


def reasons_top() -> int:
    return int(policy()["reasons"]["top"])


def psi_thresholds() -> tuple[float, float]:
    m = policy()["monitoring"]
    return float(m["psi_warn"]), float(m["psi_alert"])


def cv_settings() -> dict[str, Any]:
    return dict(policy()["cv"])


def validation_settings() -> dict[str, Any]:
    return dict(policy()["validation"])


def challenger_margin() -> float:
    return float(policy()["selection"]["challenger_margin"])


@dataclass(frozen=True)
class Grade:
    grade: str
    pd_upper: float
    name_zh: str
    name_en: str
    description_zh: str


@cache
def master_scale() -> tuple[Grade, ...]:
    """Grades from best to worst with their PD upper bounds (the last bound is 1)."""
    path = resources.files("qiantang.credit") / "data" / "master_scale.csv"
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    grades = tuple(
        Grade(r["grade"], float(r["pd_upper"]), r["name_zh"], r["name_en"], r["description_zh"]) for r in rows
    )
    uppers = [g.pd_upper for g in grades]
    if uppers != sorted(uppers) or uppers[-1] != 1.0:
        raise ValueError("master_scale.csv: PD upper bounds must rise and end at 1")
    return grades


def grade_of(pd: np.ndarray | float) -> np.ndarray:
    """Master-scale grade of each PD (a PD equal to an upper bound belongs to that grade)."""
    grades = master_scale()
    uppers = np.array([g.pd_upper for g in grades[:-1]])
    names = np.array([g.grade for g in grades], dtype=object)
    return names[np.searchsorted(uppers, np.atleast_1d(np.asarray(pd, dtype=np.float64)), side="left")]


def grade_names() -> list[str]:
    return [g.grade for g in master_scale()]


def grade_info(grade: str) -> Grade | None:
    return next((g for g in master_scale() if g.grade == grade), None)


__all__ = [
    "Grade",
    "challenger_margin",
    "cv_settings",
    "grade_info",
    "grade_names",
    "grade_of",
    "lightgbm_params",
    "master_scale",
    "policy",
    "psi_thresholds",
    "reasons_top",
    "scaling",
    "scorecard_params",
    "validation_settings",
]
