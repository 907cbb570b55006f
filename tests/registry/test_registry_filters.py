"""The institutions filter form as a browser submits it: every select sends its value, "All" sends ""."""

from __future__ import annotations


def test_filter_form_with_selects_left_at_all(clients):
    admin = clients.as_user("admin")
    blank = {"q": "", "type": "", "level": "", "district": "", "cluster": "", "status": "", "supervisor": ""}
    page = admin.get("/institutions", params=blank)
    assert page.status_code == 200
    assert 'data-testid="institutions"' in page.text
    # A chosen level still filters, and a wrong one is still refused.
    branches = admin.get("/institutions", params={**blank, "level": "branch"})
    assert branches.status_code == 200 and "分支机构" in branches.text
    assert admin.get("/institutions", params={**blank, "level": "nonsense"}).status_code == 422
