"""Every filter form accepts its own defaults: "全部" and untouched date/number fields submit an empty
value, which means "no filter" — not a 422. A wrong value still gets its clear error."""

from __future__ import annotations

import re

import pytest

# Each list page with the query string its filter form sends when nothing is chosen.
DEFAULT_SUBMISSIONS = [
    "/institutions?q=&type=&level=&district=&cluster=&status=&supervisor=",
    "/enterprises?q=&district=&size=&section=&grade=&listing=&high_tech=",
    "/audit?username=&action=&since=&until=",
    "/cases?view=board&level=&state=&district=&owner=&q=&institution=",
    "/cases?view=table&level=&state=&district=&owner=&q=",
    "/early-warning/alerts?level=&family=&type=&district=&status=&institution=",
    "/statistics?period=&rows=type&type=&category=&district=&cluster=&level=",
    "/statistics/clusters?period=",
    "/network?level=&min_firms=",
    "/filings?period=&template=&district=&status=",
]


def _count(html: str) -> int | None:
    """The pager's total (共 N 条), when the page has one."""
    match = re.search(r"共\s*([\d,]+)\s*条", html)
    return int(match.group(1).replace(",", "")) if match else None


@pytest.mark.parametrize("url", DEFAULT_SUBMISSIONS)
def test_filter_form_defaults_are_accepted(clients, url):
    admin = clients.as_user("admin")
    response = admin.get(url)
    assert response.status_code == 200, response.text[:500]
    bare = admin.get(url.split("?")[0])
    assert bare.status_code == 200
    # Empty values filter nothing: the same total as the page without any query.
    if url.startswith(("/institutions", "/enterprises", "/audit")):
        assert _count(response.text) == _count(bare.text)
        assert _count(response.text) > 0


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/institutions?level=nonsense", "level"),
        ("/enterprises?size=huge", "size"),
        ("/audit?since=yesterday", "since"),
        ("/network?min_firms=1", "min_firms"),
    ],
)
def test_a_wrong_filter_value_still_gets_a_clear_error(clients, url, field):
    response = clients.as_user("admin").get(url)
    assert response.status_code == 422
    assert field in response.text and "Traceback" not in response.text


def test_a_chosen_filter_still_filters(clients):
    admin = clients.as_user("admin")
    everything = _count(admin.get("/institutions?level=&status=").text)
    deregistered = _count(admin.get("/institutions?level=&status=deregistered").text)
    assert everything is not None and deregistered is not None
    assert 0 < deregistered < everything
    since = _count(admin.get("/audit?since=2000-01-01&until=").text)
    assert since == _count(admin.get("/audit").text)
