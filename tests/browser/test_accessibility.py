"""Accessibility in Chromium: axe-core WCAG 2 A/AA rules on every main page for every role; keyboard use.

GB/T 37668-2019 (信息技术 互联网内容无障碍可访问性技术要求与测试方法) follows WCAG 2.0; axe-core
(shipped by ``axe-playwright-python``) checks the rules that a machine can check. Each role visits the
pages it can open, the detail pages found by following the first link of each list, and the error pages.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.test_browser_shell import PASSWORDS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
ROLES = ("admin", "analyst", "xihu", "reporter", "auditor", "lender", "firm")  # one login per role
# The module pages; a role that may not open one gets a 403 page (checked once, below) and moves on;
# a module not in this build (404) is passed over.
MAIN_PAGES = (
    "/",
    "/plan",
    "/institutions",
    "/filings",
    "/statistics",
    "/statistics/clusters",
    "/early-warning",
    "/early-warning/alerts",
    "/cases",
    "/enterprises",
    "/credit",
    "/network",
    "/network/scenarios",
    "/listing",
    "/listing/funnel",
    "/matching",
    "/matching/products",
    "/disputes",
    "/disputes/statistics",
    "/fundraising",
    "/audit",
    "/users",
    "/jobs",
    "/notifications",
    "/account",
    "/help",
    "/help/early-warning",
)
# Forms that only editors reach.
EDITOR_PAGES = (
    "/institutions/new",
    "/plan/new",
    "/network/import",
    "/credit/upload",
    "/listing/import",
    "/disputes/new",
    "/disputes/import",
    "/fundraising/import",
)
# The form a firm fills in to ask for finance.
FIRM_FORMS = ("/matching/needs/new",)
# From a list page, the first link matching the pattern is a detail page to check too.
FOLLOW = {
    "/plan": r"^/plan/indicators/",
    "/institutions": r"^/institutions/\d+$",
    "/filings": r"^/filings/\d+$",
    "/statistics/clusters": r"^/statistics/clusters/[^/?]+$",
    "/early-warning": r"^/early-warning/institutions/\d+$",
    "/cases": r"^/cases/\d+$",
    "/enterprises": r"^/enterprises/[0-9A-Z]{18}$",
    "/credit": r"^/credit/models/\d+$",
    "/network": r"^/network/groups/\d+$",
    "/listing": r"^/listing/\d+$",
    "/matching": r"^/matching/needs/\d+$",
    "/disputes": r"^/disputes/\d+$",
    "/fundraising": r"^/fundraising/firms/\d+$",  # the links graph and its table
}
# A firm's profile leads to its credit report and its place in the guarantee network.
FIRM_PAGES = ("{firm}/credit-report", "/network/enterprises/{uscc}")


def axe_violations(page, where: str) -> list[str]:
    """axe-core's WCAG 2 A/AA violations on the page, one readable line per element."""
    from axe_playwright_python.sync_playwright import Axe

    page.wait_for_load_state("networkidle")
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    lines = []
    for violation in results.response["violations"]:
        for node in violation["nodes"]:
            checks = node["any"] + node["all"] + node["none"]
            why = checks[0]["message"] if checks else violation["help"]
            lines.append(
                f"{where}: {violation['id']} ({violation['impact']}) {' '.join(node['target'])} — {why}"
                f"\n    {node['html'][:160]}"
            )
    return lines


def links(page, pattern: str) -> list[str]:
    hrefs = page.eval_on_selector_all("main a[href]", "els => els.map(e => e.getAttribute('href'))")
    return [h for h in hrefs if re.match(pattern, h)]


def visit(page, url: str, username: str, found: list[str]) -> int:
    response = page.goto(url)
    status = response.status if response else 0
    if status == 200:
        found.extend(axe_violations(page, f"{username} {url}"))
    return status


@pytest.mark.parametrize("username", ROLES)
def test_no_wcag_violations_on_the_pages_of_each_role(page, username):
    log_in(page, username)
    page.wait_for_url(lambda url: "/login" not in url)
    found: list[str] = []
    opened = []
    details = []
    extra = (EDITOR_PAGES if username in ("admin", "analyst") else ()) + (
        FIRM_FORMS if username == "firm" else ()
    )
    for url in MAIN_PAGES + extra:
        if visit(page, url, username, found) != 200:
            continue
        opened.append(url)
        if url in FOLLOW and (hits := links(page, FOLLOW[url])):
            details.append(hits[0])
    for url in details:
        assert visit(page, url, username, found) == 200, url
        if url.startswith("/enterprises/"):
            for template in FIRM_PAGES:
                sub = template.format(firm=url, uscc=url.rsplit("/", 1)[1])
                assert visit(page, sub, username, found) == 200, sub
    if username == "admin":
        # A scenario result page: run one for the first firm of the first group.
        page.goto(next(url for url in details if url.startswith("/network/groups/")))
        uscc = links(page, r"^/network/enterprises/")[0].rsplit("/", 1)[1]
        page.goto("/network/scenarios")
        page.fill("input[name=firms]", uscc)
        page.click("form.form-grid button[type=submit]")
        page.wait_for_url(re.compile(r".*/network/scenarios/\d+$"))
        found.extend(axe_violations(page, f"{username} {page.url}"))
    # Every role opened its home page and at least one detail page, so the check covered real pages.
    assert "/" in opened and details, (opened, details)
    assert not found, f"{len(found)} accessibility violations (WCAG 2 A/AA):\n" + "\n".join(found)


def test_no_wcag_violations_on_login_and_error_pages(page):
    found: list[str] = []
    for locale in ("zh_CN", "en"):
        page.goto(f"/lang/{locale}?next=/login")
        found.extend(axe_violations(page, f"anonymous /login ({locale})"))
    page.goto("/lang/zh_CN?next=/login")
    log_in(page, "reporter")
    page.wait_for_url("**/")
    assert page.goto("/no-such-page").status == 404
    found.extend(axe_violations(page, "reporter 404"))
    assert page.goto("/audit").status == 403
    found.extend(axe_violations(page, "reporter 403"))
    assert not found, f"{len(found)} accessibility violations (WCAG 2 A/AA):\n" + "\n".join(found)


def focused(page) -> dict:
    return page.evaluate(
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
        return {tag: e.tagName, id: e.id, name: e.getAttribute('name'), href: e.getAttribute('href'),
                text: e.innerText, outline: s.outlineStyle, nav: !!e.closest('nav.sidebar')}; }"""
    )


def tab_until(page, predicate, limit: int = 60) -> list[dict]:
    """Press Tab until the focused element satisfies ``predicate``; the elements passed on the way."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        element = focused(page)
        seen.append(element)
        if predicate(element):
            return seen
    raise AssertionError(f"not reached by Tab in {limit} presses: {seen[-5:]}")


def test_keyboard_alone_reaches_the_navigation_and_submits_a_filter(page):
    # Log in by keyboard: the username field has focus on load, Tab to the password, Enter.
    page.goto("/login")
    assert focused(page)["id"] == "username"
    page.keyboard.type("xihu")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORDS["xihu"])
    page.keyboard.press("Enter")
    page.wait_for_url("**/")

    page.keyboard.press("Tab")
    skip = focused(page)
    assert skip["href"] == "#main" and skip["outline"] != "none"  # focus is visible
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "main"

    # From the top, every module of the navigation is reached by Tab, in order, with a visible focus.
    page.goto("/")
    nav = page.eval_on_selector_all("nav.sidebar a", "els => els.map(e => e.getAttribute('href'))")
    passed = tab_until(page, lambda e: e["nav"] and e["href"] == nav[-1])
    reached = [e["href"] for e in passed if e["nav"]]
    assert reached == nav
    assert all(e["outline"] != "none" for e in passed if e["nav"])
    # Enter follows the focused link: back to the institutions module.
    page.goto("/")
    tab_until(page, lambda e: e["nav"] and e["href"] == "/institutions")
    page.keyboard.press("Enter")
    page.wait_for_url("**/institutions")

    # The filter form, by keyboard: type part of the first institution's name, choose its type with the
    # arrow keys, submit with Enter on the button; the list then holds only matching institutions.
    first = page.locator("[data-testid=institutions] tbody tr").first
    name, kind = first.locator("td").nth(0).inner_text(), first.locator("td").nth(1).inner_text()
    fragment = name[:4]
    tab_until(page, lambda e: e["name"] == "q")
    page.keyboard.type(fragment)
    tab_until(page, lambda e: e["name"] == "type")
    for _ in range(40):
        if page.eval_on_selector("select[name=type]", "s => s.selectedOptions[0].text") == kind:
            break
        page.keyboard.press("ArrowDown")
    chosen = page.eval_on_selector("select[name=type]", "s => s.value")
    assert chosen
    tab_until(page, lambda e: e["tag"] == "BUTTON" and e["text"].strip() in ("查询", "Search"))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/institutions\?.*q=.*"))
    assert f"type={chosen}" in page.url
    rows = page.locator("[data-testid=institutions] tbody tr")
    names = rows.locator("td:nth-child(1)").all_inner_texts()
    kinds = set(rows.locator("td:nth-child(2)").all_inner_texts())
    assert name in names and all(fragment in n for n in names) and kinds == {kind}
