"""The demo city's credit model: trained, registered as champion and run over every enterprise.

Target (a behavioural one-year PD): the enterprises with a loan running at the observation date
(2024-12-31, a year before the loans' classification date); *bad* when any of their loans is 次级, 可疑 or
损失 on 2025-12-31. Firms already in default at the observation date are left out. Features
(``enterprise-v1``) see only what was known then: financial year ≤ 2024, firm age at 2024-12-31, loans
and guarantees signed by then. Stability monitoring compares the same population today (firms with a
loan running on the scoring date; ``features.in_population``). The scorecard is
the champion; a LightGBM challenger is registered beside it as a candidate. Then every enterprise is
scored as of 2025-12-31 with the latest financial year. 演示数据：模型与评分均基于合成数据。
"""

from __future__ import annotations

import time
from datetime import date
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from qiantang.credit import features as feats
from qiantang.credit import metrics, registry
from qiantang.credit import policy as pol
from qiantang.credit.pipeline import train
from qiantang.credit.service import SIZE_SEGMENTS, batch_score
from qiantang.credit.tabular import Dataset, prepare

DEMO_NAME = "企业信用评分卡（演示）"
DEMO_CHALLENGER = "企业信用 LightGBM 挑战者（演示）"
TARGET_TEXT = (
    "观察点（{obs}）有在贷余额的企业（已违约者除外），在表现期末（{perf}）任一笔贷款风险分类为"
    "次级、可疑或损失即为“坏”；特征只取观察点及以前的数据：{obs_year} 年及以前的财务报表、成立年限、"
    "此前签订的贷款与担保。"
)
MAX_TRAINING_ROWS = 50_000  # the city's ~330,000 borrowers are sampled (stratified) to keep the load short


def demo_dataset(session: Session, *, performance_date: date | None = None, segment: str = "all") -> Dataset:
    """The demo's development sample: features at the observation date, target a year later.

    A size-class segment (micro, small, medium, large) keeps that class's firms only: the sample the
    segment's champion will score."""
    conn = session.connection()
    perf = performance_date or feats.latest_loan_date(conn)
    if perf is None:
        raise ValueError("数据库中没有贷款数据，无法建立演示模型")
    obs = date(perf.year - 1, 12, 31)
    target = feats.read_target(conn, performance_date=perf)
    raw = feats.read_raw(conn, as_of=obs)
    borrowers = raw.frame[feats.in_population(raw.frame)]
    frame = borrowers.merge(target, on="enterprise_id", how="left")
    # Already in default at the observation date: more than 90 days past due then.
    defaulted = frame["max_dpd"].to_numpy(dtype=np.float64) > (perf - obs).days + 90
    frame = frame[~defaulted].reset_index(drop=True)
    frame["bad"] = frame["bad"].fillna(0)  # no loan left at the performance date: repaid, good
    X = feats.compute_features(frame, obs)
    X["bad"] = frame["bad"].to_numpy()
    if segment in SIZE_SEGMENTS:
        X = X[X["size_class"].astype(object) == segment].reset_index(drop=True)
    if len(X) > MAX_TRAINING_ROWS:
        from sklearn.model_selection import train_test_split

        keep, _ = train_test_split(
            np.arange(len(X)), train_size=MAX_TRAINING_ROWS, stratify=X["bad"], random_state=2016
        )
        X = X.iloc[np.sort(keep)].reset_index(drop=True)
    return prepare(
        X,
        target="bad",
        bad="1",
        features=list(feats.FEATURES),
        name=f"演示城市：{obs.isoformat()} 特征 → {perf.isoformat()} 五级分类",
    )


def build_demo_model(session: Session, *, say=None, challenger: bool = True) -> dict[str, Any]:
    """Train, register (champion + challenger) and batch-score the demo enterprises."""
    say = say or (lambda _m: None)
    started = time.perf_counter()
    conn = session.connection()
    perf = feats.latest_loan_date(conn)
    if perf is None:
        return {"skipped": "no loans"}
    data = demo_dataset(session, performance_date=perf)
    obs = date(perf.year - 1, 12, 31)
    target_text = TARGET_TEXT.format(perf=perf.isoformat(), obs=obs.isoformat(), obs_year=obs.year)
    say("训练演示评分卡")
    register = partial(
        registry.register,
        session,
        data=data,
        target_text=target_text,
        segment="all",
        input_kind=registry.INPUT_ENTERPRISE,
        feature_set=feats.FEATURE_SET,
        created_by="demo",
    )
    champion = register(
        trained=train(data, kind="scorecard"),
        name=DEMO_NAME,
        notes="演示数据：基于合成城市训练，仅用于展示方法。",
        champion=True,
    )
    out: dict[str, Any] = {"champion": champion.id}
    if challenger:
        say("训练演示 LightGBM 挑战者")
        cand = register(
            trained=train(data, kind="lightgbm", tune=False),
            name=DEMO_CHALLENGER,
            notes="演示数据：挑战者模型（候选），与冠军评分卡比较。",
        )
        out["challenger"] = cand.id
    say("批量评分")
    stats = batch_score(session, as_of=perf)
    out.update({"scored": stats.rows, "seconds": round(time.perf_counter() - started, 2), "rows": data.n})
    return out


OOT_KINDS = ("scorecard", "blend", "lightgbm", "auto")


def out_of_time(
    session: Session,
    *,
    development: date | None = None,
    validation: date | None = None,
    kinds: tuple[str, ...] = OOT_KINDS,
    say=None,
) -> dict[str, Any]:
    """Out-of-time validation: each kind trained on the window ending at ``development`` (default: a
    year before the loans' date; features at the year-end before it) and applied unchanged to the next
    window, ending at ``validation`` (default: the loans' date). AUC and KS with 95 % stratified
    bootstrap intervals on the later window, beside the out-of-fold ones in the development window;
    and the mean PD the model gives the later window, against its observed bad rate."""
    say = say or (lambda _m: None)
    latest = feats.latest_loan_date(session.connection())
    if latest is None:
        raise ValueError("数据库中没有贷款数据，无法做跨时间验证")
    validation = validation or latest
    development = development or date(validation.year - 1, 12, 31)
    say(f"开发样本：{development.year - 1}-12-31 → {development.isoformat()}")
    dev = demo_dataset(session, performance_date=development)
    say(f"验证样本：{validation.year - 1}-12-31 → {validation.isoformat()}")
    oot = demo_dataset(session, performance_date=validation)
    v = pol.validation_settings()
    rows = []
    for kind in kinds:
        say(f"训练 {kind}")
        trained = train(dev, kind=kind, say=say)
        later = metrics.bootstrap(oot.y, trained.model.risk(oot.X), n_boot=v["bootstrap"], level=v["level"])
        rows.append(
            {
                "kind": kind,
                "chosen": trained.kind,
                "development": {k: trained.validation["out_of_fold"][k] for k in ("auc", "gini", "ks")},
                "out_of_time": {k: iv.as_dict() for k, iv in later.items()},
                "mean_pd": float(np.mean(trained.model.predict_pd(oot.X))),
            }
        )
    return {
        "development": {"name": dev.name, "rows": dev.n, "bad_rate": dev.bad_rate},
        "out_of_time": {"name": oot.name, "rows": oot.n, "bad_rate": oot.bad_rate},
        "models": rows,
    }


__all__ = ["DEMO_NAME", "OOT_KINDS", "TARGET_TEXT", "build_demo_model", "demo_dataset", "out_of_time"]
