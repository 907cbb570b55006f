"""The panel built in parts of whole institutions (as Spark's executors build it) is the whole panel."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qiantang.earlywarning import panel as p
from qiantang.earlywarning import service


def _part(tables: p.Tables, ids) -> p.Tables:
    ids = set(int(i) for i in ids)

    def of(frame: pd.DataFrame, column: str) -> pd.DataFrame:
        return frame[frame[column].isin(ids)].reset_index(drop=True)

    return p.Tables(
        of(tables.institutions, "id"),
        of(tables.events, "institution_id"),
        of(tables.filings, "institution_id"),
        of(tables.disputes, "institution_id"),
    )


def _ns(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates in one unit (pandas parses PostgreSQL's date objects to seconds, text to microseconds)."""
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c].dtype):
            out[c] = out[c].astype("datetime64[ns]")
    return out


def test_the_panel_built_in_parts_with_the_whole_bounds_is_the_whole_panel(db):
    templates = service.Config.load().rules.templates
    tables = p.read_tables(db)
    whole = p.build(tables, templates=templates)
    filed = whole.rows.loc[whole.rows["filed"], "institution_id"].unique()
    never_filed = whole.institutions.index.difference(filed)
    assert len(filed) > 50 and len(never_filed) > 0
    current = tables.filings[tables.filings["is_current"].astype(bool)]
    current = current[current["institution_id"].isin(whole.institutions.index)]
    bounds = p.Bounds(
        whole.first_pq,
        whole.last_pq,
        whole.templates,
        {t: p.template_fields(t, []) for t in sorted(current["template"].unique())},
    )
    ids = whole.institutions.index.to_numpy(np.int64)
    parts = [ids[ids % 5 == k] for k in range(5)]  # a few institutions a part
    parts += [[i] for i in never_filed] + [[i] for i in filed[:5]]  # one institution, with or without returns
    for part_ids in parts:
        part = p.build(_part(tables, part_ids), templates=templates, bounds=bounds)
        keep = whole.rows["institution_id"].isin(part_ids).to_numpy()
        want_rows = whole.rows[keep].reset_index(drop=True)
        if want_rows.empty:  # an institution with no expected or filed quarter: no rows (any dtypes)
            assert part.rows.empty and list(part.rows.columns) == list(want_rows.columns)
        else:
            pd.testing.assert_frame_equal(_ns(part.rows), _ns(want_rows), obj=str(part_ids[:3]))
        want_fields = whole.fields[keep].reset_index(drop=True)
        got_fields = part.fields.reindex(columns=want_fields.columns)  # a part may lack a template's returns
        pd.testing.assert_frame_equal(got_fields, want_fields, check_dtype=False)
        assert set(part.fields.columns) <= set(whole.fields.columns)
        assert (part.first_pq, part.last_pq, part.templates) == (
            whole.first_pq,
            whole.last_pq,
            whole.templates,
        )
        pd.testing.assert_frame_equal(_ns(part.institutions), _ns(whole.institutions.loc[sorted(part_ids)]))
        want_events = whole.events[whole.events["institution_id"].isin(part_ids)].reset_index(drop=True)
        if want_events.empty:
            assert part.events.empty
        else:
            pd.testing.assert_frame_equal(_ns(part.events), _ns(want_events))


def test_institutions_keep_their_own_dates_when_the_rules_leave_a_template_out(db):
    """A city whose rules cover fewer templates: the kept institutions keep their own dates (they were
    once assigned by position over the unfiltered rows: 36 of the tiny demo's 422 got another's on SQLite)."""
    full = p.load_institutions(db)
    keep = tuple(sorted(full["template"].unique())[1:])
    part = p.load_institutions(db, keep)
    want = full[full["template"].isin(keep)]
    assert 0 < len(part) == len(want) < len(full)
    for column in ("established_on", "deregistered_on"):
        assert part[column].isna().tolist() == want[column].isna().tolist(), column
        assert part[column].dropna().tolist() == want[column].dropna().tolist(), column
    assert (part["established_on"].notna()).all()
