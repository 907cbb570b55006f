"""The user guide served at /help: one page per module, reached from every page's help link."""

from __future__ import annotations

import re

import pytest

from qiantang.help import service
from qiantang.web.templating import NAV


def test_every_built_module_has_a_written_guide_page():
    for item in NAV:
        if item.built:
            assert item.code in service.BY_NAV, item.code
    for page in service.PAGES:
        source = service.GUIDE_DIR / "zh" / f"{page.slug}.md"
        assert source.is_file(), source
        text = source.read_text(encoding="utf-8")
        assert text.startswith("# "), source
        # Every screenshot the page shows exists (made by scripts/guide_screenshots.py).
        for image in re.findall(r"!\[[^\]]*\]\(\.\./img/([^)]+)\)", text):
            assert (service.GUIDE_DIR / "img" / image).is_file(), (page.slug, image)


def test_markdown_links_and_images_become_app_urls():
    rendered = service.render_page("early-warning", locale="zh_CN")
    assert 'src="/help/img/' in rendered.html
    assert "../img/" not in rendered.html and ".md" not in rendered.html
    assert not rendered.fallback


@pytest.mark.parametrize("slug", [p.slug for p in service.PAGES])
def test_guide_pages_render_in_the_layout_for_anyone(client, slug):
    page = client.get(f"/help/{slug}")
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="guide"' in html and "<h1>" in html
    # The help link of a guide page points at itself; the contents list every page.
    assert f'href="/help/{slug}" data-testid="help-link"' in html
    assert all(f'href="/help/{p.slug}"' in html for p in service.PAGES)


def test_english_falls_back_to_chinese_with_a_note(client):
    client.get("/lang/en?next=/")
    for page in service.PAGES:
        html = client.get(f"/help/{page.slug}").text
        english = (service.GUIDE_DIR / "en" / f"{page.slug}.md").is_file()
        assert ("written in Chinese only" in html) is not english, page.slug


def test_help_link_of_each_module_page_opens_its_guide(clients):
    admin = clients.as_user("admin")
    for url, slug in (
        ("/", "overview"),
        ("/cases", "early-warning"),
        ("/credit", "enterprises"),
        ("/users", "audit"),
        ("/statistics", "statistics"),
    ):
        html = admin.get(url).text
        assert f'href="/help/{slug}" data-testid="help-link"' in html, url
    # The login page and error pages lead to the contents.
    assert 'href="/help" data-testid="help-link"' in admin.get("/no-such-page").text


def test_unknown_pages_and_image_paths_are_refused(client):
    assert client.get("/help/no-such-module").status_code == 404
    assert client.get("/help/img/..%2F..%2Fpyproject.toml").status_code == 404
    assert client.get("/help/img/not-there.png").status_code == 404
