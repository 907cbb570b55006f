"""The generic tabular pipeline: any table with a target column becomes features and a 0/1 target.

The same function prepares the demo's enterprise features, the real public data sets of the benchmark
and an analyst's own CSV or Excel file, so a model is always built and evaluated the same way.

Rules (documented in docs/methods/credit-scoring.md §2):

* the target column must exist; a row is *bad* when its value equals the given bad value (compared as
  trimmed text, so ``bad``, ``1`` and ``1.0`` work); rows with an empty target are left out;
* a column is numeric when its dtype is numeric, or when at least 95 % of its non-empty cells read as
  numbers (``1,234.5`` too); the other cells of such a column (text in a number field) become missing
  and are counted;
* every other column is categorical (trimmed text; empty is missing);
* columns are left out, each with a reason, when they are constant, more than 95 % missing, a row
  identifier (consecutive integers, or named like ``id``/``rownames``) or free text (more distinct values
  than half the rows and more than 50);
* columns that identify a person (公民身份号码 by the GB 11643 check character, mobile numbers,
  personal names, bank accounts, addresses — :func:`qiantang.masking.detect_personal_column`) are
  refused, the whole table with them, unless the analyst passes ``allow_personal=True``; then they
  are used but their cut points are never shown (``Feature.personal``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from qiantang.errors import RowError, ValidationFailed

NUMERIC_SHARE = 0.95
MAX_MISSING_SHARE = 0.95
MIN_ROWS = 50
MIN_CLASS = 10
_ID_NAMES = re.compile(r"^(id|index|rownames|row_?id|row_?number|序号|编号|unnamed: ?0)$", re.IGNORECASE)


@dataclass(frozen=True)
class Feature:
    """One model input: its column name, kind and how it is shown."""

    name: str
    kind: str  # numeric | categorical
    label: str = ""  # display name (Chinese for the enterprise features); defaults to the name
    personal: str = ""  # a personal field (qiantang.masking) the analyst chose to use anyway

    @property
    def shown(self) -> str:
        return self.label or self.name

    def as_dict(self) -> dict[str, str]:
        out = {"name": self.name, "kind": self.kind, "label": self.label}
        if self.personal:
            out["personal"] = self.personal
        return out


@dataclass
class Dataset:
    """Features (numeric columns float64, categorical columns object with None for missing) and target."""

    X: pd.DataFrame
    y: np.ndarray  # int8, 1 = bad
    features: list[Feature]
    target: str = "target"
    bad_value: str = "1"
    dropped: dict[str, str] = field(default_factory=dict)  # column → reason (Chinese)
    coerced: dict[str, int] = field(default_factory=dict)  # numeric column → text cells made missing
    rows_without_target: int = 0
    name: str = ""

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def bad_rate(self) -> float:
        return float(self.y.mean()) if self.n else 0.0

    def subset(self, rows: np.ndarray) -> Dataset:
        return Dataset(
            self.X.iloc[rows].reset_index(drop=True),
            self.y[rows],
            self.features,
            self.target,
            self.bad_value,
            self.dropped,
            self.coerced,
            0,
            self.name,
        )

    def fingerprint(self) -> str:
        """SHA-256 of the training table (features in order, then the target): the registry's data hash."""
        return table_hash(self.X[[f.name for f in self.features]], self.y)


def table_hash(X: pd.DataFrame, y: np.ndarray | None = None) -> str:
    """A stable SHA-256 of a table's values (column names, then each column's values as text/bytes)."""
    h = hashlib.sha256()
    for name in X.columns:
        h.update(str(name).encode())
        col = X[name]
        if col.dtype.kind in "fiub":
            h.update(np.ascontiguousarray(col.to_numpy(dtype=np.float64)).tobytes())
        else:
            h.update("\x1f".join("\x00" if v is None else str(v) for v in col.tolist()).encode())
    if y is not None:
        h.update(np.ascontiguousarray(np.asarray(y, dtype=np.int8)).tobytes())
    return h.hexdigest()


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if np.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    text = str(value).strip()
    return text or None


def to_numeric(values: pd.Series) -> tuple[np.ndarray, int]:
    """Numbers from a column (thousands separators allowed); text cells become NaN and are counted."""
    if values.dtype.kind in "fiub":
        numbers = np.array(values, dtype=np.float64)
        numbers[~np.isfinite(numbers)] = np.nan
        return numbers, 0
    text = values.map(_as_text)
    cleaned = text.str.replace(",", "", regex=False).str.replace("，", "", regex=False)
    numbers = np.array(pd.to_numeric(cleaned, errors="coerce"), dtype=np.float64)
    numbers[~np.isfinite(numbers)] = np.nan
    bad = int((text.notna().to_numpy() & np.isnan(numbers)).sum())
    return numbers, bad


def to_categorical(values: pd.Series) -> pd.Series:
    return values.map(_as_text).astype(object)


def infer_kind(values: pd.Series) -> str:
    if values.dtype.kind in "fiub":
        return "numeric"
    text = values.map(_as_text).dropna()
    if text.empty:
        return "categorical"
    _numbers, bad = to_numeric(text)
    return "numeric" if (len(text) - bad) >= NUMERIC_SHARE * len(text) else "categorical"


def _drop_reason(name: str, values: pd.Series, kind: str) -> str | None:
    n = len(values)
    missing = values.isna() if kind == "numeric" else values.map(lambda v: v is None)
    if missing.mean() > MAX_MISSING_SHARE:
        return f"缺失超过 {MAX_MISSING_SHARE:.0%}"
    present = values[~missing]
    distinct = present.nunique(dropna=True)
    if distinct <= 1:
        return "取值恒定"
    if kind == "numeric":
        arr = present.to_numpy(dtype=np.float64)
        integer = bool(np.all(arr == np.round(arr)))
        if integer and distinct == n and n >= MIN_ROWS:
            steps = np.diff(arr)
            if _ID_NAMES.match(str(name).strip()) or np.all(steps == 1) or np.all(steps == -1):
                return "疑似行号或标识列"
    else:
        if _ID_NAMES.match(str(name).strip()) and distinct == len(present):
            return "疑似行号或标识列"
        if distinct > max(50, 0.5 * n):
            return "疑似自由文本或标识列（不同取值过多）"
    return None


def bad_mask(values: pd.Series, bad: str) -> tuple[np.ndarray, np.ndarray]:
    """(is_bad, has_target) for a target column, comparing trimmed text (1 and 1.0 match)."""
    text = values.map(_as_text)
    has = text.notna().to_numpy()
    wanted = _as_text(bad) or ""
    is_bad = (text == wanted).to_numpy()
    if not is_bad.any():
        try:  # numeric targets: 1 matches 1.0
            number = float(wanted)
            is_bad = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64) == number
        except ValueError:
            pass
    return is_bad & has, has


def prepare(
    frame: pd.DataFrame,
    *,
    target: str,
    bad: str,
    features: list[Feature] | None = None,
    name: str = "",
    allow_personal: bool = False,
) -> Dataset:
    """Check the target, type every column and leave out unusable ones; Chinese errors, nothing written."""
    frame = frame.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    errors: list[RowError] = []
    if target not in frame.columns:
        shown = "、".join(frame.columns[:30])
        raise ValidationFailed(
            f"表中没有目标列「{target}」（现有列：{shown}）",
            [RowError(1, target, "缺少目标列")],
        )
    is_bad, has_target = bad_mask(frame[target], bad)
    values = sorted({v for v in frame[target].map(_as_text).dropna().unique()})[:20]
    if not is_bad.any():
        raise ValidationFailed(
            f"目标列「{target}」中没有取值为「{bad}」的行（现有取值：{'、'.join(values)}）",
            [RowError(None, target, f"没有取值为「{bad}」的行")],
        )
    kept = frame.loc[has_target].reset_index(drop=True)
    y = is_bad[has_target].astype(np.int8)
    n_bad, n_good = int(y.sum()), int(len(y) - y.sum())
    if len(y) < MIN_ROWS:
        errors.append(RowError(None, target, f"有目标值的行只有 {len(y)} 行，至少需要 {MIN_ROWS} 行"))
    if n_bad < MIN_CLASS or n_good < MIN_CLASS:
        errors.append(
            RowError(
                None,
                target,
                f"坏样本 {n_bad} 个、好样本 {n_good} 个；两类各至少需要 {MIN_CLASS} 个才能建模和交叉验证",
            )
        )
    if errors:
        raise ValidationFailed("数据不足以建立评分模型，未做任何处理", errors)

    dropped: dict[str, str] = {}
    coerced: dict[str, int] = {}
    columns: dict[str, Any] = {}
    chosen: list[Feature] = []
    candidates = features or _personal_checked(kept, target, allow_personal)
    for feat in candidates:
        if feat.name not in kept.columns:
            raise ValidationFailed(
                f"表中缺少模型所需的列「{feat.name}」", [RowError(1, feat.name, "缺少该列")]
            )
        col = kept[feat.name]
        kind = feat.kind or infer_kind(col)
        if kind == "numeric":
            series = pd.Series(to_numeric(col)[0])
            nonnum = to_numeric(col)[1]
            if nonnum:
                coerced[feat.name] = nonnum
        else:
            series = to_categorical(col)
        reason = None if features else _drop_reason(feat.name, series, kind)
        if reason:
            dropped[feat.name] = reason
            continue
        columns[feat.name] = series.to_numpy(dtype=np.float64) if kind == "numeric" else series.to_numpy()
        chosen.append(Feature(feat.name, kind, feat.label, feat.personal))
    if not chosen:
        raise ValidationFailed(
            "没有可用的特征列（全部列被排除）",
            [RowError(None, c, r) for c, r in dropped.items()],
        )
    X = pd.DataFrame(columns)
    return Dataset(
        X,
        y,
        chosen,
        target=target,
        bad_value=str(bad),
        dropped=dropped,
        coerced=coerced,
        rows_without_target=int((~has_target).sum()),
        name=name,
    )


def _personal_checked(frame: pd.DataFrame, target: str, allow: bool) -> list[Feature]:
    """Every column but the target as a candidate; personal identifiers refused unless allowed."""
    from qiantang.masking import detect_personal_column, field_label

    candidates, found = [], []
    for column in frame.columns:
        if column == target:
            continue
        personal = detect_personal_column(column, frame[column].tolist()) or ""
        if personal:
            found.append(RowError(1, column, f"疑似{field_label(personal)}，属于个人信息，不能作为评分特征"))
        candidates.append(Feature(column, "", "", personal))
    if found and not allow:
        shown = "、".join(f"「{e.column}」" for e in found)
        raise ValidationFailed(
            f"表中有个人身份信息列 {shown}：这些列不能用作评分特征，以免个人信息进入模型并显示在页面上。"
            "请删除这些列后重新上传；确需使用的，请勾选“仍然使用个人信息列”（命令行加 --allow-personal）",
            found,
        )
    return candidates


def read_upload(content: bytes, filename: str, *, sheet: str | None = None) -> pd.DataFrame:
    """A CSV or Excel upload as a data frame of raw cells (validated by qiantang.uploads.read_raw)."""
    from qiantang.uploads import read_raw

    header, rows = read_raw(content, filename, sheet=sheet)
    errors = []
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        if not h:
            errors.append(RowError(1, f"第 {i + 1} 列", "列名为空"))
        elif h in seen:
            errors.append(RowError(1, h, f"列名与第 {seen[h] + 1} 列重复"))
        else:
            seen[h] = i
    if errors:
        raise ValidationFailed("表头有误，整个文件未导入", errors)
    width = len(header)
    data = [list(r[:width]) + [None] * (width - len(r)) for r in rows]
    return pd.DataFrame(data, columns=header, dtype=object)


def read_path(path: str) -> pd.DataFrame:
    """A CSV or Excel file from disk (the CLI)."""
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise ValidationFailed(f"文件不存在：{path}", [])
    return read_upload(p.read_bytes(), p.name)


__all__ = [
    "Dataset",
    "Feature",
    "bad_mask",
    "infer_kind",
    "prepare",
    "read_path",
    "read_upload",
    "table_hash",
    "to_categorical",
    "to_numeric",
]
