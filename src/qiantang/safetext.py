"""Characters that must not reach storage, a spreadsheet or a page unchanged.

- Control characters (C0 other than tab/LF/CR, DEL, C1) are refused on input and dropped on output:
  XML 1.0 (every .xlsx) cannot hold them, and they hide text from a reader.
- Bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C) can make a name
  read backwards (``‮txt.exe`` shows as ``exe.txt``); names shown to users drop them.
"""

from __future__ import annotations

import re
import unicodedata

CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
BIDI_RE = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def has_control(value: str) -> bool:
    """Whether ``value`` holds a control character (tab, line feed and carriage return are fine)."""
    return CONTROL_RE.search(value) is not None


def clean_text(value: str) -> str:
    """``value`` without control characters."""
    return CONTROL_RE.sub("", value)


def display_name(value: str) -> str:
    """A file or person name as it may be shown: NFC, no control or bidirectional characters."""
    value = unicodedata.normalize("NFC", value)
    return BIDI_RE.sub("", CONTROL_RE.sub("", value)).strip()
