#!/usr/bin/env bash
# Extract interface strings and merge them into the zh_CN catalogue; then translate the empty
# entries in src/qiantang/web/locales/zh_CN/LC_MESSAGES/messages.po (tests fail on any left empty).
set -euo pipefail
cd "$(dirname "$0")/.."
PO=src/qiantang/web/locales/zh_CN/LC_MESSAGES/messages.po
.venv/bin/pybabel extract -F babel.cfg -k _ -k N_ -k gettext --no-location --sort-output \
  --project=qiantang -o var/messages.pot .
if [ -f "$PO" ]; then
  .venv/bin/pybabel update -i var/messages.pot -o "$PO" -l zh_CN --no-fuzzy-matching --ignore-obsolete
else
  .venv/bin/pybabel init -i var/messages.pot -o "$PO" -l zh_CN
fi
