"""Every interface string has a Chinese translation; English is the message id."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from qiantang.web import i18n

SRC = Path(__file__).resolve().parents[2] / "src" / "qiantang"
METHOD_MAP = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extracted_ids() -> set[str]:
    ids = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(SRC), METHOD_MAP, OPTIONS, keywords={"_": None, "N_": None, "gettext": None}
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_every_string_is_translated_to_chinese():
    catalogue = i18n.catalogue("zh_CN")
    missing = sorted(m for m in extracted_ids() if m and m not in catalogue)
    assert not missing, f"untranslated (run scripts/i18n.sh and translate): {missing}"


def test_gettext_follows_the_locale():
    token = i18n.set_locale("en")
    try:
        assert i18n.gettext("Overview") == "Overview"
        assert i18n.gettext("%(n)s loans", n=3) == "3 loans"
    finally:
        i18n._current.reset(token)
    assert i18n.gettext("Overview") == "概览"
    assert i18n.gettext("%(n)s loans", n=3) == "3 笔贷款"
    assert i18n.normalise_locale("en-US") == "en" and i18n.normalise_locale("fr") == "zh_CN"


def test_translations_keep_their_placeholders():
    import re

    for msgid, text in i18n.catalogue("zh_CN").items():
        assert sorted(re.findall(r"%\((\w+)\)s", msgid)) == sorted(re.findall(r"%\((\w+)\)s", text)), msgid
