"""Set Chinese translations in the zh_CN catalogue: po_set.py MSGID MSGSTR [MSGID MSGSTR ...]

Also lists the untranslated message ids when called without arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parents[1] / "src/qiantang/web/locales/zh_CN/LC_MESSAGES/messages.po"


def main(argv: list[str]) -> int:
    with PO.open("rb") as fh:
        catalogue = read_po(fh, locale="zh_CN")
    if not argv:
        for message in catalogue:
            if message.id and not message.string:
                print(message.id)
        return 0
    if len(argv) % 2:
        print("pairs of MSGID MSGSTR expected", file=sys.stderr)
        return 2
    for msgid, msgstr in zip(argv[::2], argv[1::2], strict=True):
        if msgid not in catalogue:
            print(f"not in the catalogue (run scripts/i18n.sh first): {msgid}", file=sys.stderr)
            return 1
        catalogue[msgid].string = msgstr
    with PO.open("wb") as fh:
        write_po(fh, catalogue, width=100)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
