"""The fundraising risk index on Spark: the same scores, grades and reasons as ``fundraising run``.

:func:`qiantang.fundraising.service.run` with ``engine="spark"``:

- **texts** (keyword hits and promised yields) are scanned in chunks on the executors by
  :func:`qiantang.fundraising.features.scan_texts` — a text's hits depend on that text alone, and the
  chunks are put back in order, so the frames are the local ones;
- **firms at the same address / phone**: a Spark ``groupBy(value).count()`` over every firm with a
  profile (not only the watched ones), as ``watched_firms`` counts them;
- **links to flagged firms** (people shared with collapsed, dishonest or already red/orange firms): a
  self-join of the firm–person table on the person, kept where the other firm is flagged — each firm's
  number of distinct flagged neighbours (the local ``(inc·incᵀ)·bad`` without the diagonal), its
  number of dishonest people, and the names of three of them in the order the local sparse product
  lists them (see :func:`link_frame`);
- **each firm's features and index**: the watched firms are split into buckets; each bucket's rows of
  every table go to one task, which runs :func:`~qiantang.fundraising.features.features_as_of` and
  :func:`~qiantang.fundraising.index.score_frame` — the local functions — with the links above.
  Every other feature is a group-by over the firm's own rows, so a bucket computes exactly what the
  whole city computes for its firms.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

TEXT_CHUNK = 5_000


def scan_texts(spark, texts: pd.DataFrame, *, chunk_rows: int = TEXT_CHUNK):
    """``features.scan_texts`` of ``texts``, chunk by chunk on the executors, in the texts' order."""
    from qiantang.fundraising.features import scan_texts as scan

    if len(texts) <= 0:
        return scan(texts)
    chunks = [texts.iloc[k : k + chunk_rows] for k in range(0, len(texts), chunk_rows)]
    done = spark.sparkContext.parallelize(chunks, len(chunks)).map(scan).collect()
    parts = []
    for i in range(2):
        frames = [d[i] for d in done if len(d[i])]
        if not frames:
            parts.append(done[0][i])
        else:
            parts.append(pd.concat(frames, ignore_index=True))
    return parts[0], parts[1]


def value_counts(spark, values: pd.Series) -> pd.Series:
    """How many times each non-null value occurs (``Series.value_counts``), counted by Spark."""
    frame = pd.DataFrame({"v": values.dropna().astype(object).map(str)})
    sdf = spark.createDataFrame(frame, schema="v string")
    counts = sdf.groupBy("v").count().toPandas()
    return pd.Series(counts["count"].to_numpy(np.int64), index=counts["v"].to_numpy(object), name="count")


def load_bundle(spark, session):
    """``service.load_bundle`` with the texts scanned and the shared addresses counted on Spark."""
    from qiantang.fundraising import service

    return service.load_bundle(
        session,
        scan=lambda texts: scan_texts(spark, texts),
        value_counts=lambda values: value_counts(spark, values),
    )


def _as_of_frames(b, as_of: date, flagged: set[int] | None):
    """The firms, people and dishonest list known on ``as_of`` and the flagged firms — as
    ``features_as_of`` filters them."""
    end = pd.Timestamp(as_of)
    idx = b.firms[pd.to_datetime(b.firms["founded_on"]) <= end].index
    d = b.dishonest[(b.dishonest["listed_on"] <= end) & ~(b.dishonest["removed_on"] <= end)]
    firm_dishonest = set(d["enterprise_id"].dropna().astype(int))
    collapsed = set(b.collapses.loc[b.collapses["collapsed_on"] <= end, "enterprise_id"].astype(int))
    bad = collapsed | firm_dishonest | set(flagged or ())
    p = b.people[(b.people["since"].isna() | (b.people["since"] <= end)) & ~(b.people["until"] <= end)]
    return idx, p, d, bad


def link_frame(spark, b, as_of: date, *, flagged: set[int] | None = None) -> pd.DataFrame | None:
    """Per watched firm: ``linked_flagged`` (distinct flagged firms sharing a person with it),
    ``linked_text`` (three of their names) and, when a listed person is dishonest,
    ``person_dishonest`` (its dishonest people) — computed by Spark joins. None when nobody is listed.

    The names are the first three flagged neighbours in the order of the local sparse product
    ``inc·incᵀ`` (SciPy's row-by-row accumulation lists a row's columns latest-first-touched first):
    by the first shared person — persons numbered in order of appearance — then by the neighbour's
    position (watched firms first), both descending. The equality test checks this against SciPy.
    """
    from pyspark.sql import functions as F

    idx, p, d, bad = _as_of_frames(b, as_of, flagged)
    if p.empty:
        return None
    all_firms = pd.Index(pd.unique(np.concatenate([idx.to_numpy(), p["enterprise_id"].to_numpy()])))
    persons = pd.Index(pd.unique(p["person_key"]))
    inc = pd.DataFrame(
        {
            "f": all_firms.get_indexer(p["enterprise_id"]).astype(np.int64),
            "j": persons.get_indexer(p["person_key"]).astype(np.int64),
        }
    ).drop_duplicates()
    bad_pos = all_firms.get_indexer(pd.Index(sorted(bad)))
    bad_pos = pd.DataFrame({"k": bad_pos[bad_pos >= 0].astype(np.int64)})
    A = spark.createDataFrame(inc, schema="f long, j long")
    B = spark.createDataFrame(bad_pos, schema="k long")
    watched = len(idx)  # positions 0 … watched−1 are the watched firms, in their order
    pairs = (
        A.where(F.col("f") < watched)
        .join(A.select(F.col("f").alias("k"), "j"), "j")
        .where(F.col("f") != F.col("k"))
        .join(B, "k")
        .groupBy("f", "k")
        .agg(F.min("j").alias("j"))
    )
    per_firm = pairs.groupBy("f").agg(
        F.count("k").alias("n"),
        F.slice(F.sort_array(F.collect_list(F.struct("j", "k")), asc=False), 1, 3).alias("top"),
    )
    linked = per_firm.toPandas()
    names = b.extra.get("names", {})
    firm_ids = all_firms.to_numpy()
    out = pd.DataFrame(index=pd.Index(idx, name=idx.name))
    out["linked_flagged"] = 0.0
    out["linked_text"] = ""
    if len(linked):
        at = idx[linked["f"].to_numpy(np.int64)]
        out.loc[at, "linked_flagged"] = linked["n"].to_numpy(np.float64)
        texts = []
        for top in linked["top"]:
            others = [int(firm_ids[int(t["k"])]) for t in top]
            texts.append("、".join(names.get(o, str(o)) for o in others))
        out.loc[at, "linked_text"] = texts
    dishonest_people = set(d["person_key"].dropna())
    if dishonest_people:
        pos = persons.get_indexer(pd.Index(list(dishonest_people)))
        P = spark.createDataFrame(
            pd.DataFrame({"j": np.unique(pos[pos >= 0]).astype(np.int64)}), schema="j long"
        )
        counts = A.where(F.col("f") < watched).join(P, "j").groupBy("f").count().toPandas()
        out["person_dishonest"] = 0.0
        if len(counts):
            out.loc[idx[counts["f"].to_numpy(np.int64)], "person_dishonest"] = counts["count"].to_numpy(
                np.float64
            )
    return out


def _score_bucket(item):
    from qiantang.fundraising.features import features_as_of
    from qiantang.fundraising.index import score_frame

    sub, as_of, tips, links, cfg = item
    feats = features_as_of(sub, as_of, tips=tips, cfg=cfg, links=links)
    scored = score_frame(feats, cfg)
    return feats[["district_code", "category", "firm_dishonest"]], scored


def score(
    spark,
    b,
    as_of: date,
    *,
    tips: dict[int, int] | None = None,
    flagged: set[int] | None = None,
    cfg=None,
    buckets: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features the run stores — district, category, dishonest — and ``score_frame``'s output) for
    every watched firm, in the local order, computed on Spark."""
    from qiantang.fundraising.features import Bundle
    from qiantang.fundraising.index import config

    cfg = cfg or config()
    links = link_frame(spark, b, as_of, flagged=flagged)
    n = buckets or max(2, 2 * spark.sparkContext.defaultParallelism)
    firm_bucket = pd.Series(b.firms.index.to_numpy(np.int64) % n, index=b.firms.index)
    tables = ("hits", "yields", "spread", "complaints", "changes", "dishonest", "funds", "collapses")
    items = []
    for k in range(n):
        ids = firm_bucket.index[firm_bucket.to_numpy() == k]
        if not len(ids):
            continue
        keep = {t: getattr(b, t)[getattr(b, t)["enterprise_id"].isin(ids)] for t in tables}
        sub = Bundle(firms=b.firms.loc[ids], people=b.people.iloc[:0], texts=0, extra={}, **keep)
        sub_tips = {int(i): v for i, v in (tips or {}).items() if int(i) in set(ids.tolist())}
        sub_links = links[links.index.isin(ids)] if links is not None else None
        items.append((sub, as_of, sub_tips, sub_links, cfg))
    done = spark.sparkContext.parallelize(items, max(1, len(items))).map(_score_bucket).collect()
    end = pd.Timestamp(as_of)
    order = b.firms.index[pd.to_datetime(b.firms["founded_on"]) <= end]
    feats = pd.concat([f for f, _ in done]).loc[order] if done else pd.DataFrame(index=order)
    scored = pd.concat([s for _, s in done]).loc[order] if done else pd.DataFrame(index=order)
    return feats, scored
