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

Where the tables come from (``--source``): with ``db`` the driver reads them
(``service.load_bundle``, with :func:`scan_texts` and :func:`value_counts` on Spark) and hands the
frames to :func:`score`. With ``parquet`` or ``jdbc`` Spark reads them itself
(:func:`reader`, :func:`read_frames`: the local selects redone in Spark), :func:`link_frames` joins
the links from those frames, and :func:`score_frames` sends each bucket's rows of every table to one
``applyInPandas`` task (texts scanned there); only the scores come back to the driver.
:func:`outside_reports` counts the tips and disputes from the same sources.
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


# ------------------------------------------------------------- from a snapshot or JDBC (--source)
# The platform tables ``service.load_bundle`` reads (and ``outside_reports`` for the tips).
TABLES = (
    "enterprises",
    "fr_profiles",
    "institutions",
    "fr_texts",
    "fr_spread",
    "fr_complaints",
    "fr_registration_changes",
    "fr_people",
    "fr_dishonest",
    "fr_fund_anomalies",
    "fr_collapses",
)
TIP_TABLES = ("enterprises", "fundraising_tips", "fundraising_tip_reports", "disputes")

# Each raw table of a bucket: its columns as ``load_bundle`` reads them (``id`` last: the rows' order),
# and which of them are dates.
FIRM_COLUMNS = (
    "enterprise_id",
    "uscc",
    "name",
    "district_code",
    "industry_code",
    "founded_on",
    "registered_capital",
    "business_scope",
    "paid_in_capital",
    "address",
    "phone",
    "category",
    "firms_at_address",
    "firms_at_phone",
    "licensed",
)
RAW = {
    "texts": (("enterprise_id", "published_on", "text", "id"), ("published_on",)),
    "spread": (
        (
            "enterprise_id",
            "observed_on",
            "investors",
            "amount_raised",
            "realised_return",
            "districts",
            "provinces",
            "id",
        ),
        ("observed_on",),
    ),
    "complaints": (("enterprise_id", "received_on", "amount", "summary", "id"), ("received_on",)),
    "changes": (("enterprise_id", "kind", "changed_on", "id"), ("changed_on",)),
    "dishonest": (
        ("enterprise_id", "person_key", "listed_on", "removed_on", "id"),
        ("listed_on", "removed_on"),
    ),
    "funds": (("enterprise_id", "reported_on", "kind", "id"), ("reported_on",)),
    "collapses": (("enterprise_id", "collapsed_on", "victims", "id"), ("collapsed_on",)),
}
LINK_COLUMNS = ("enterprise_id", "linked_flagged", "linked_text", "person_dishonest")


def _day(column: str):
    """A date column as a date (a snapshot's date32, JDBC's date, or a time) — its day."""
    from pyspark.sql import functions as F

    return F.col(column).cast("date").alias(column)


def _categorised(pdf_iter):
    from qiantang.fundraising.watch import categorise

    for pdf in pdf_iter:
        pdf["category"] = categorise(pdf["name"], pdf["business_scope"], pdf["industry_code"]).to_numpy(
            object
        )
        yield pdf


def read_frames(read) -> dict:
    """The watched firms and their raw tables as Spark frames (``read(name)`` → a platform table),
    selected and filtered as :func:`qiantang.fundraising.service.load_bundle` does in SQL and pandas:

    - ``firms``: the registered firms without a deregistration, with their profile; the firms at each
      address and phone counted over all of them; the category of ``watch.categorise`` (per row, on
      the executors); kept when watched; ``licensed`` when an institution in force has the USCC;
    - ``texts``, ``spread``, ``complaints``, ``changes``, ``funds``: the watched firms' rows;
      ``collapses``, ``dishonest`` and ``people``: the whole tables (the links look beyond the watched
      firms);
    - ``names``: every firm's name (the links name the flagged firms).
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    ent = read("enterprises")
    prof = read("fr_profiles").select(
        F.col("enterprise_id").cast("long").alias("_pid"),
        "business_scope",
        F.col("paid_in_capital").cast("double").alias("paid_in_capital"),
        "address",
        "phone",
    )
    firms = (
        ent.where(F.col("deregistered_on").isNull())
        .join(prof, F.col("id").cast("long") == F.col("_pid"), "left")
        .select(
            F.col("id").cast("long").alias("enterprise_id"),
            "uscc",
            "name",
            "district_code",
            "industry_code",
            _day("founded_on"),
            F.col("registered_capital").cast("double").alias("registered_capital"),
            "business_scope",
            "paid_in_capital",
            "address",
            "phone",
        )
    )
    for col, out in (("address", "firms_at_address"), ("phone", "firms_at_phone")):
        counts = (
            firms.where(F.col(col).isNotNull()).groupBy(col).agg(F.count(F.lit(1)).cast("double").alias(out))
        )
        firms = firms.join(counts, col, "left").fillna(0.0, subset=[out])
    schema = T.StructType([*firms.schema.fields, T.StructField("category", T.StringType())])
    firms = firms.mapInPandas(_categorised, schema=schema)
    licensed = (
        read("institutions")
        .where(F.col("deregistered_on").isNull() & F.col("uscc").isNotNull())
        .select(F.col("uscc").alias("_uscc"))
        .distinct()
        .withColumn("licensed", F.lit(True))
    )
    firms = (
        firms.where(F.col("category") != "")
        .join(licensed, F.col("uscc") == F.col("_uscc"), "left")
        .withColumn("licensed", F.coalesce(F.col("licensed"), F.lit(False)))
        .select(*FIRM_COLUMNS)
    )
    watched = firms.select("enterprise_id")

    def of(table: str, key: str, select: list):
        frame = read(table).select(*select)
        return frame.join(watched, "enterprise_id", "left_semi") if key == "watched" else frame

    eid = F.col("enterprise_id").cast("long").alias("enterprise_id")
    rid = F.col("id").cast("long").alias("id")

    def money(c: str):
        return F.col(c).cast("double").alias(c)

    out = {
        "firms": firms,
        "texts": of("fr_texts", "watched", [eid, _day("published_on"), "text", rid]),
        "spread": of(
            "fr_spread",
            "watched",
            [
                eid,
                _day("observed_on"),
                F.col("investors").cast("long").alias("investors"),
                money("amount_raised"),
                money("realised_return"),
                F.col("districts").cast("long").alias("districts"),
                F.col("provinces").cast("long").alias("provinces"),
                rid,
            ],
        ),
        "complaints": of(
            "fr_complaints", "watched", [eid, _day("received_on"), money("amount"), "summary", rid]
        ),
        "changes": of(
            "fr_registration_changes",
            "watched",
            [eid, F.col("kind").cast("string").alias("kind"), _day("changed_on"), rid],
        ),
        "funds": of("fr_fund_anomalies", "watched", [eid, _day("reported_on"), "kind", rid]),
        "collapses": of(
            "fr_collapses",
            "all",
            [eid, _day("collapsed_on"), F.col("victims").cast("long").alias("victims"), rid],
        ),
        "dishonest": of(
            "fr_dishonest", "all", [eid, "person_key", _day("listed_on"), _day("removed_on"), rid]
        ),
        "people": of("fr_people", "all", [eid, "person_key", _day("since"), _day("until"), rid]),
        "names": ent.select(F.col("id").cast("long").alias("enterprise_id"), "name"),
    }
    return out


def link_frames(spark, frames: dict, as_of: date, *, flagged: set[int] | None = None):
    """:func:`link_frame` from the Spark frames of :func:`read_frames`: per watched firm founded by
    ``as_of``, ``linked_flagged``, ``linked_text`` and ``person_dishonest``, as a Spark frame (nothing
    comes to the driver).

    The local order is rebuilt from the rows' ids (``load_bundle`` reads them in that order): a
    person's position is the first row it appears on (its smallest ``id`` among the people in force),
    a firm's is its id among the watched firms — which come first — and its first row among the people
    for the others. The names are those of the first three neighbours by (first shared person, the
    neighbour's position), both descending, as :func:`link_frame` sorts them.
    """
    from pyspark.sql import functions as F

    end = F.lit(as_of)
    idx = frames["firms"].where(F.col("founded_on") <= end).select("enterprise_id")
    p = frames["people"].where(
        (F.col("since").isNull() | (F.col("since") <= end))
        & (F.col("until").isNull() | (F.col("until") > end))
    )
    d = frames["dishonest"].where(
        (F.col("listed_on") <= end) & (F.col("removed_on").isNull() | (F.col("removed_on") > end))
    )
    person = p.groupBy("person_key").agg(F.min("id").alias("j"))
    inc = p.select(F.col("enterprise_id").alias("f"), "person_key").distinct().join(person, "person_key")
    left = inc.join(idx.select(F.col("enterprise_id").alias("f")), "f", "left_semi")
    bad = (
        frames["collapses"]
        .where(F.col("collapsed_on") <= end)
        .select("enterprise_id")
        .unionByName(d.where(F.col("enterprise_id").isNotNull()).select("enterprise_id"))
    )
    if flagged:
        marked = spark.createDataFrame(
            pd.DataFrame({"enterprise_id": sorted(int(i) for i in flagged)}), "enterprise_id long"
        )
        bad = bad.unionByName(marked)
    bad = bad.select(F.col("enterprise_id").alias("k")).distinct()
    # A neighbour's position: (0, its id) for a watched firm, (1, its first row among the people).
    first_row = p.groupBy(F.col("enterprise_id").alias("k")).agg(F.min("id").alias("first"))
    position = first_row.join(
        idx.select(F.col("enterprise_id").alias("k"), F.lit(0).alias("w")), "k", "left"
    ).select(
        "k",
        F.coalesce("w", F.lit(1)).alias("w"),
        F.when(F.col("w") == 0, F.col("k")).otherwise(F.col("first")).alias("kk"),
    )
    names = frames["names"].select(F.col("enterprise_id").alias("k"), F.col("name").alias("k_name"))
    pairs = (
        left.select("f", "person_key", "j")
        .join(inc.select(F.col("f").alias("k"), "person_key"), "person_key")
        .where(F.col("f") != F.col("k"))
        .join(bad, "k", "left_semi")
        .groupBy("f", "k")
        .agg(F.min("j").alias("j"))
        .join(position, "k")
        .join(names, "k", "left")
        .withColumn("k_name", F.coalesce(F.col("k_name"), F.col("k").cast("string")))
    )
    per_firm = pairs.groupBy("f").agg(
        F.count("k").cast("double").alias("linked_flagged"),
        F.slice(F.sort_array(F.collect_list(F.struct("j", "w", "kk", "k_name")), asc=False), 1, 3).alias(
            "top"
        ),
    )
    per_firm = per_firm.select(
        "f",
        "linked_flagged",
        F.array_join(F.transform("top", lambda t: t["k_name"]), "、").alias("linked_text"),
    )
    dishonest_people = d.where(F.col("person_key").isNotNull()).select("person_key").distinct()
    person_dishonest = (
        left.join(dishonest_people, "person_key", "left_semi")
        .groupBy("f")
        .agg(F.count(F.lit(1)).cast("double").alias("person_dishonest"))
    )
    return (
        idx.select(F.col("enterprise_id").alias("f"))
        .join(per_firm, "f", "left")
        .join(person_dishonest, "f", "left")
        .select(
            F.col("f").alias("enterprise_id"),
            F.coalesce("linked_flagged", F.lit(0.0)).alias("linked_flagged"),
            F.coalesce("linked_text", F.lit("")).alias("linked_text"),
            F.coalesce("person_dishonest", F.lit(0.0)).alias("person_dishonest"),
        )
    )


def _rows_of(pdf: pd.DataFrame, tag: str, columns: tuple[str, ...], dates: tuple[str, ...]) -> pd.DataFrame:
    """The rows of the table ``tag`` in a bucket's tagged rows, as ``load_bundle`` frames them: built
    from tuples (so pandas infers the dtypes as from the database's rows), in the order of their ids."""
    import json

    rows = [json.loads(r) for r in pdf.loc[pdf["t"] == tag, "row"]]
    if "id" in columns:
        rows.sort(key=lambda r: r["id"])
    df = pd.DataFrame([tuple(r.get(c) for c in columns) for r in rows], columns=list(columns))
    for c in dates:
        df[c] = pd.to_datetime(df[c]) if len(df) else pd.Series(dtype="datetime64[ns]")
    return df.drop(columns="id") if "id" in columns else df


def _bucket_scores(pdf: pd.DataFrame, as_of: date, tips: dict[int, int], cfg, sub_cols) -> pd.DataFrame:
    """One bucket's features and index, by the local functions, from its tagged rows (the reasons
    as JSON text)."""
    import json

    from qiantang.fundraising.features import Bundle, features_as_of, scan_texts
    from qiantang.fundraising.index import score_frame
    from qiantang.fundraising.models import CHANGE_ZH

    firms = _rows_of(pdf, "firms", FIRM_COLUMNS, ("founded_on",)).set_index("enterprise_id").sort_index()
    t = {name: _rows_of(pdf, name, *spec) for name, spec in RAW.items()}
    texts = t.pop("texts")
    hits, ylds = scan_texts(texts)
    changes = t["changes"]
    changes["kind"] = changes["kind"].astype(str).str.replace("ChangeKind.", "", regex=False).str.lower()
    changes["kind_zh"] = changes["kind"].map({k.value: v for k, v in CHANGE_ZH.items()}).fillna("")
    people = pd.DataFrame(
        {
            c: pd.Series(dtype="datetime64[ns]" if c in ("since", "until") else object)
            for c in ("enterprise_id", "person_key", "since", "until")
        }
    )
    links = _rows_of(pdf, "links", LINK_COLUMNS, ()).set_index("enterprise_id")
    b = Bundle(
        firms,
        hits,
        ylds,
        t["spread"],
        t["complaints"],
        changes,
        people,
        t["dishonest"],
        t["funds"],
        t["collapses"],
        texts=len(texts),
    )
    ids = set(firms.index.tolist())
    feats = features_as_of(b, as_of, tips={i: v for i, v in tips.items() if i in ids}, cfg=cfg, links=links)
    scored = score_frame(feats, cfg)
    out = pd.DataFrame(
        {
            "enterprise_id": scored.index.to_numpy(np.int64),
            "district_code": feats["district_code"].astype(object).to_numpy(object),
            "category": feats["category"].astype(object).to_numpy(object),
            "firm_dishonest": feats["firm_dishonest"].to_numpy(np.int64),
            "score": scored["score"].to_numpy(np.float64),
            "grade": scored["grade"].astype(object).to_numpy(object),
        }
    )
    for c in sub_cols:
        out[c] = scored[c].to_numpy(np.float64)
    out["reasons"] = [json.dumps(list(r), ensure_ascii=False) for r in scored["reasons"]]
    return out


def score_frames(
    spark,
    frames: dict,
    as_of: date,
    *,
    tips: dict[int, int] | None = None,
    flagged: set[int] | None = None,
    cfg=None,
    buckets: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`score` from the Spark frames of :func:`read_frames`: the watched firms split into
    buckets (``enterprise_id % buckets``); every table's rows of a bucket — the firm, its texts,
    spread, complaints, changes, 失信 entries, fund reports, collapse and its links
    (:func:`link_frames`) — go to one task as tagged rows, which scans the texts and runs
    ``features_as_of`` and ``score_frame``. Only the scores come back: (district, category,
    dishonest) and ``score_frame``'s columns per firm, in the local order (the firms' ids)."""
    import json

    from pyspark.sql import functions as F

    from qiantang.fundraising.index import config

    cfg = cfg or config()
    n = buckets or max(2, 2 * spark.sparkContext.defaultParallelism)
    # The watched firms (profiles joined, counted, categorised) feed the links, the semi-joins and
    # the buckets: kept in memory for this run rather than read and categorised three times.
    firms = frames["firms"].cache()
    try:
        frames = {**frames, "firms": firms}
        links = link_frames(spark, frames, as_of, flagged=flagged)
        bucket = (F.col("enterprise_id") % n).alias("_bucket")

        def tagged(tag: str, frame, columns):
            row = F.to_json(F.struct(*columns), {"ignoreNullFields": "false"}).alias("row")
            return frame.select(bucket, F.lit(tag).alias("t"), row)

        ids = frames["firms"].select("enterprise_id")
        parts = [tagged("firms", frames["firms"], FIRM_COLUMNS), tagged("links", links, LINK_COLUMNS)]
        for name, (columns, dates) in RAW.items():
            frame = (
                frames[name].where(F.col("enterprise_id").isNotNull()).join(ids, "enterprise_id", "left_semi")
            )
            frame = frame.select(
                *[F.col(c).cast("string").alias(c) if c in dates else F.col(c) for c in columns]
            )
            parts.append(tagged(name, frame, columns))
        rows = parts[0]
        for part in parts[1:]:
            rows = rows.unionByName(part)
        sub_cols = [f"sub_{d}" for d in cfg.dimensions]
        schema = (
            "enterprise_id long, district_code string, category string, firm_dishonest long, score double, "
            "grade string, " + ", ".join(f"{c} double" for c in sub_cols) + ", reasons string"
        )
        tips = {int(k): int(v) for k, v in (tips or {}).items()}

        def udf(pdf: pd.DataFrame) -> pd.DataFrame:
            return _bucket_scores(pdf, as_of, tips, cfg, sub_cols)

        done = rows.groupBy("_bucket").applyInPandas(udf, schema=schema).toPandas()
    finally:
        firms.unpersist()
    done = done.sort_values("enterprise_id", kind="stable").set_index("enterprise_id")
    feats = done[["district_code", "category", "firm_dishonest"]]
    scored = done[[*sub_cols, "score", "grade"]].copy()
    scored["version"] = cfg.version
    scored["reasons"] = [json.loads(r) for r in done["reasons"]]
    return feats, scored


def outside_reports(spark, read, session, *, as_of: date) -> dict[int, int]:
    """``monitor.outside_reports`` from the tips inbox and the disputes register read by Spark:
    reports per firm of the year up to ``as_of`` (to the end of that day) and disputes about
    unlicensed respondents per name, counted by Spark; a name is the register's firm of that name
    (the smallest id when several share it). The few names matching no registered name exactly are
    looked up as locally, by ``tips.match_firm`` on the register's text index in the database."""
    from pyspark.sql import functions as F

    from qiantang.fundraising import tips as tips_mod
    from qiantang.fundraising.monitor import DISPUTE_MATCH_MIN, WINDOW

    start = as_of - WINDOW
    tips = read("fundraising_tips").where(F.col("enterprise_id").isNotNull())
    reports = read("fundraising_tip_reports").where(
        F.col("at").cast("date").between(F.lit(start), F.lit(as_of))
    )
    per_firm = (
        reports.select(F.col("tip_id").cast("long").alias("tip_id"))
        .join(
            tips.select(F.col("id").cast("long").alias("tip_id"), F.col("enterprise_id").cast("long")),
            "tip_id",
        )
        .groupBy("enterprise_id")
        .count()
        .collect()
    )
    counts = {int(r["enterprise_id"]): int(r["count"]) for r in per_firm}
    disputes = (
        read("disputes")
        .where(
            F.col("institution_id").isNull()
            & F.col("received_on").cast("date").between(F.lit(start), F.lit(as_of))
        )
        .groupBy("respondent_name")
        .count()
    )
    firms = read("enterprises").groupBy("name").agg(F.min(F.col("id").cast("long")).alias("enterprise_id"))
    by_name = disputes.join(firms, disputes["respondent_name"] == firms["name"], "left").select(
        "respondent_name", "count", "enterprise_id"
    )
    for r in by_name.collect():
        eid = r["enterprise_id"]
        if eid is None:
            match = tips_mod.match_firm(session, r["respondent_name"])
            if match.enterprise_id is None or (match.confidence or 0) < DISPUTE_MATCH_MIN:
                continue
            eid = match.enterprise_id
        counts[int(eid)] = counts.get(int(eid), 0) + int(r["count"])
    return counts


def reader(spark, *, source: str, session=None, snapshot=None, database_url=None, tips: bool = False):
    """``batch.sources.table_reader`` of the tables the index reads (and the tips' with ``tips``)."""
    from qiantang.batch.sources import table_reader

    tables = list(dict.fromkeys((*TABLES, *(TIP_TABLES if tips else ()))))
    return table_reader(
        spark, source=source, tables=tables, session=session, snapshot=snapshot, database_url=database_url
    )
