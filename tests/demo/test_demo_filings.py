"""Every generated return passes its template; revisions, periods and timing are consistent."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from qiantang.demo.calendar import QUARTER_ENDS
from qiantang.filings.templates import failed_checks, get_template
from qiantang.registry.reference import institution_type_rows


def test_every_filing_passes_its_template(tiny_city):
    f = tiny_city.tables["filings"]
    problems = Counter()
    for code, version, data in zip(f["template_code"], f["template_version"], f["data"], strict=True):
        template = get_template(code)
        assert version == template.version
        values = json.loads(data)
        assert set(values) == set(template.field_codes)
        for field in template.fields:
            value = values[field.code]
            if field.required and value is None:
                problems[(code, "missing", field.code)] += 1
                continue
            if field.type == "count":
                assert isinstance(value, int), (code, field.code)
            elif round(value, 2) != value:
                problems[(code, "decimals", field.code)] += 1
            if field.min is not None and value < field.min:
                problems[(code, "min", field.code)] += 1
            if field.max is not None and value > field.max:
                problems[(code, "max", field.code)] += 1
        for check in failed_checks(template, values):
            problems[(code, check.code)] += 1
    assert not problems


def test_only_filers_file_and_all_templates_are_used(tiny_city):
    types = {r["code"]: r["filing_template"] for r in institution_type_rows()}
    inst = tiny_city.tables["institutions"]
    type_of = dict(zip(inst["id"].tolist(), inst["type_code"].tolist(), strict=True))
    f = tiny_city.tables["filings"]
    for iid, code in zip(f["institution_id"].tolist(), f["template_code"].tolist(), strict=True):
        assert types[type_of[iid]] == code
    assert set(f["template_code"]) == {t for t in types.values() if t}
    assert set(f["source"]) == {"demo"}


def test_one_current_revision_per_period(tiny_city):
    f = tiny_city.tables["filings"]
    keys = list(
        zip(f["institution_id"].tolist(), f["period_end"].tolist(), f["revision"].tolist(), strict=True)
    )
    assert len(set(keys)) == len(keys)
    current = Counter((i, p) for (i, p, _), c in zip(keys, f["is_current"].tolist(), strict=True) if c)
    periods = {(i, p) for i, p, _ in keys}
    assert set(current) == periods and set(current.values()) == {1}
    revised = ~f["is_current"]
    assert revised.any()
    assert set(f["revision"][revised].tolist()) == {1}
    by_key = {(i, p, r): s for (i, p, r), s in zip(keys, f["submitted_at"].tolist(), strict=True)}
    for (i, p, r), when in by_key.items():
        if r == 2:
            assert by_key[(i, p, 1)] < when


def test_periods_due_dates_and_operating_quarters(tiny_city):
    f = tiny_city.tables["filings"]
    inst = tiny_city.tables["institutions"]
    pos = {iid: k for k, iid in enumerate(inst["id"].tolist())}
    assert set(f["period_end"].tolist()) <= set(QUARTER_ENDS.tolist())
    assert f["period_end"].min() == QUARTER_ENDS[0] and f["period_end"].max() == QUARTER_ENDS[-1]
    assert np.all(f["due_on"] == f["period_end"] + 15)
    assert np.all(f["submitted_at"].astype("datetime64[D]") > f["period_end"])
    late = f["submitted_at"].astype("datetime64[D]") > f["due_on"]
    assert 0.02 < late.mean() < 0.3
    rows = np.array([pos[i] for i in f["institution_id"].tolist()])
    assert np.all(inst["established_on"][rows] <= f["period_end"])
    dereg = inst["deregistered_on"][rows]
    assert not np.any(dereg <= f["period_end"])


def test_year_to_date_flows_reset_in_the_first_quarter(tiny_city):
    f = tiny_city.tables["filings"]
    series: dict[int, dict] = {}
    for iid, code, period, current, data in zip(
        f["institution_id"].tolist(),
        f["template_code"].tolist(),
        f["period_end"].tolist(),
        f["is_current"].tolist(),
        f["data"].tolist(),
        strict=True,
    ):
        if current and code == "private_fund_manager":
            series.setdefault(iid, {})[period] = json.loads(data)["management_fee_income"]
    checked = resets = q1 = 0
    for values in series.values():
        for period, fee in values.items():
            last_q4 = period.replace(year=period.year - 1, month=12, day=31)
            if period.month == 3 and last_q4 in values and values[last_q4] > 1:
                q1 += 1
                resets += fee < values[last_q4]

        for period, fee in values.items():
            previous = (
                period.replace(month=period.month - 3, day=30 if period.month in (9, 12) else 31)
                if (period.month > 3)
                else None
            )
            if previous in values:
                assert fee >= values[previous] - 0.01  # year to date: never falls within a year
                checked += 1
    assert checked > 100
    assert q1 > 20 and resets / q1 > 0.9  # the first quarter starts a new year
