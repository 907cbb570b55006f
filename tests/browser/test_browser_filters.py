"""In Chromium: every search/filter form on every list page works as a user submits it — first with
its defaults (where "全部" and untouched fields send empty values), then with each filter set to a
non-default choice — as the city administrator and as a district officer. Each submission answers 200
with a result count that makes sense: some rows for the defaults, never more than the widest search."""

from __future__ import annotations

import re
from datetime import date

import pytest

from qiantang.demo import DEMO_USERS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
PASSWORDS = {u.username: u.password for u in DEMO_USERS}

# List pages with a filter form, and whether the tiny demo city has rows for the defaults there.
LIST_PAGES = {
    "/institutions": True,
    "/enterprises": True,
    "/audit": True,
    "/filings": True,
    "/statistics": True,
    "/statistics/clusters": True,
    "/early-warning": True,
    "/early-warning/alerts": True,
    "/cases": False,
    "/cases?view=table": False,
    "/network": True,
    "/matching": True,
    "/matching/products": True,
    "/talent": True,
    "/talent/certifications": True,
    "/disputes": True,
    "/disputes/statistics": True,
    "/listing": True,
    "/matching/stats": True,
    # Illegal fundraising: the index dashboard (grade, district, category) and the tips inbox (status,
    # district, matched, since, text; the demo's synthetic tips). The watch list has no filter form.
    "/fundraising": True,
    "/fundraising/tips": True,
    "/fundraising/watchlist": True,
}
# What a user would type into a free-text or number field.
TYPED = {
    "q": "杭州",
    "username": "admin",
    "min_firms": "3",
    "since": "2020-01-01",
    "until": date.today().isoformat(),
    "received_from": "2024-01-01",
    "received_to": date.today().isoformat(),
    "period": "2025",
}
FORM = "form[method=get]:not([target])"


def login(page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORDS[username])
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def result_count(page) -> int | None:
    """The page's result count: the pager's 共 N 条, the cases' total, the fundraising dashboard's firms
    (the highest scores, up to its limit), or None for pages without one."""
    pager = page.locator(".pager span").first
    if pager.count():
        match = re.search(r"([\d,]+)", pager.inner_text())
        return int(match.group(1).replace(",", "")) if match else None
    total = page.locator("[data-count=total]")
    if total.count():
        return int(total.inner_text().replace(",", ""))
    firms = page.locator("[data-testid=firms]")  # the fundraising dashboard: its table's firms
    if firms.count():
        return firms.locator("a[href^='/fundraising/firms/']").count()
    return None


def submit(page, form) -> int:
    """Press the form's submit button and return the HTTP status of the page (or htmx fragment) it loads."""
    action = form.get_attribute("action")

    def is_answer(response) -> bool:
        request = response.request
        return request.method == "GET" and action in response.url and "?" in response.url

    with page.expect_response(is_answer) as answer:
        form.locator("button[type=submit]").first.click()
    page.wait_for_load_state()
    page.locator(".htmx-request").first.wait_for(state="detached")  # an htmx swap has finished
    status = answer.value.status
    body = page.locator("main").inner_text()
    assert "提交的数据有误" not in body and "Traceback" not in body, (answer.value.url, body[:300])
    return status


def fields(page) -> list[tuple[str, str]]:
    """(name, kind) of each distinct filter field in the first filter form."""
    out: list[tuple[str, str]] = []
    seen = set()
    for el in page.locator(f"{FORM} select, {FORM} input").all():
        name, kind = el.get_attribute("name"), el.get_attribute("type") or el.evaluate("e => e.tagName")
        if not name or kind == "hidden" or name in seen:
            continue
        seen.add(name)
        out.append((name, kind.lower()))
    return out


def set_non_default(page, name: str, kind: str) -> str | None:
    """Change one field away from its default; the value chosen, or None when there is no other choice."""
    field = page.locator(f"{FORM} [name='{name}']").first
    field.evaluate("e => { const d = e.closest('details'); if (d) d.open = true; }")
    if kind == "select":
        current = field.input_value()
        others = [
            v for v in field.locator("option").evaluate_all("os => os.map(o => o.value)") if v != current
        ]
        if not others:
            return None
        choice = next((v for v in others if v), others[0])
        field.select_option(choice)
        return choice
    if kind == "checkbox":
        field.set_checked(not field.is_checked())
        return "toggled"
    value = TYPED.get(name)
    if value is None:
        return None
    field.fill(value)
    return value


def widest(page, url: str) -> int | None:
    """The result count with every select that offers "全部" set to it."""
    page.goto(url)
    form = page.locator(FORM).first
    for select in form.locator("select").all():
        if "" in select.locator("option").evaluate_all("os => os.map(o => o.value)"):
            select.select_option("")
    assert submit(page, form) == 200
    return result_count(page)


@pytest.mark.parametrize("username", ["admin", "xihu"])
def test_every_filter_form_accepts_its_defaults_and_each_filter(page, username):
    # Generous: this test loads ~100 pages, and on a loaded 2-core machine one took over 10 s to load
    # (page speed is measured by benchmarks/page_latency.py, not here).
    page.set_default_timeout(30_000)
    login(page, username)
    checked = 0
    submitted: set[str] = set()
    for url, has_rows in LIST_PAGES.items():
        response = page.goto(url)
        if response.status == 403:  # not this user's page (the audit log for a district officer)
            continue
        assert response.status == 200, url
        if not page.locator(FORM).count():
            continue
        # Defaults, exactly as the page offers them.
        assert submit(page, page.locator(FORM).first) == 200, url
        submitted.add(url)
        default_count = result_count(page)
        if has_rows and default_count is not None:
            assert default_count > 0, f"{url}: no rows for the defaults"
        most = widest(page, url)
        if default_count is not None and most is not None:
            assert default_count <= most, url
        # Each filter on its own, set to something else.
        page.goto(url)
        for name, kind in fields(page):
            page.goto(url)
            if set_non_default(page, name, kind) is None:
                continue
            assert submit(page, page.locator(FORM).first) == 200, f"{url} with {name}"
            count = result_count(page)
            if count is not None and most is not None:
                assert 0 <= count <= most, f"{url} with {name}: {count} > {most}"
            checked += 1
    assert checked >= 30
    assert {"/fundraising", "/fundraising/tips"} <= submitted, submitted
