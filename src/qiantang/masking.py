"""Masking of personal data by role, one policy for pages, the API and exports.

The policy is data (``standards/data/masking.toml``): each kind of personal field has a class
(C1–C3, JR/T 0171-2020 §4.2) and a masking pattern; each role sees a field ``full``, ``masked``
or ``hidden``, never more than the field's cap (证件号码 is never shown in full).

How a module uses it (the people in fundraising, talent and disputes records included):

* pages: ``{{ person.mobile | mask("mobile") }}`` — the Jinja filter reads the signed-in role;
* API: ``mobile: Masked["mobile"]`` in a Pydantic model — masked when serialised;
* exports and anything else: ``mask_value("mobile", value)`` or ``mask_value(..., role=Role.AUDITOR)``.

The current role is set once per request by :mod:`qiantang.web.deps` (``use_role``); without one
(the command line, background jobs) the ``none`` row of the policy applies.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated, Any

from pydantic import PlainSerializer

ACCESS_ORDER = ("hidden", "masked", "full")


@dataclass
class _Viewer:
    role: str | None = None


# A mutable holder: the request's middleware creates it, the auth dependency (in a worker thread,
# with a copy of the context) fills it in, and serialisation later reads the same object.
_viewer: ContextVar[_Viewer | None] = ContextVar("qiantang_masking_viewer", default=None)


@dataclass(frozen=True)
class FieldPolicy:
    code: str
    level: str  # C1 | C2 | C3
    label_zh: str
    label_en: str
    keep_start: int
    keep_end: int
    most: str  # the highest access any role gets


@dataclass(frozen=True)
class Policy:
    source: str
    fields: dict[str, FieldPolicy]
    roles: dict[str, dict[str, str]]

    def access(self, field: str, role: str | None) -> str:
        spec = self.fields[field]
        wanted = self.roles.get(role or "none", self.roles["none"]).get(field, "masked")
        return min(wanted, spec.most, key=ACCESS_ORDER.index)


def load_policy(text: str) -> Policy:
    """Parse and check a policy; ValueError (Chinese) on anything unknown or missing."""
    raw = tomllib.loads(text)
    fields = {
        code: FieldPolicy(
            code,
            spec["class"],
            spec["label_zh"],
            spec["label_en"],
            int(spec.get("keep_start", 0)),
            int(spec.get("keep_end", 0)),
            spec.get("most", "full"),
        )
        for code, spec in raw["fields"].items()
    }
    for f in fields.values():
        if f.level not in ("C1", "C2", "C3") or f.most not in ACCESS_ORDER:
            raise ValueError(f"脱敏策略中字段 {f.code} 的级别或上限有误")
    roles = raw["roles"]
    if "none" not in roles:
        raise ValueError("脱敏策略缺少未登录（none）一行")
    for role, row in roles.items():
        for field, access in row.items():
            if field not in fields or access not in ACCESS_ORDER:
                raise ValueError(f"脱敏策略中角色 {role} 的字段 {field} 取值 {access} 有误")
    return Policy(raw.get("source", ""), fields, roles)


@cache
def policy() -> Policy:
    text = (resources.files("qiantang.standards") / "data" / "masking.toml").read_text(encoding="utf-8")
    return load_policy(text)


@contextmanager
def viewer_scope() -> Iterator[None]:
    """One request's (or task's) viewer; the web middleware opens it around every request."""
    token = _viewer.set(_Viewer())
    try:
        yield
    finally:
        _viewer.reset(token)


def use_role(role: Any) -> None:
    """Set the role whose view applies for the rest of this request (or task)."""
    name = None if role is None else str(getattr(role, "value", role))
    viewer = _viewer.get()
    if viewer is None:
        _viewer.set(_Viewer(name))
    else:
        viewer.role = name


def current_role() -> str | None:
    viewer = _viewer.get()
    return viewer.role if viewer else None


def mask_text(text: str, keep_start: int, keep_end: int) -> str:
    """Keep the first and last characters and star the rest (at least one star, at most the length)."""
    n = len(text)
    if n == 0:
        return text
    if keep_start + keep_end >= n:  # too short to keep both ends: keep at most the first character
        keep_start, keep_end = (min(keep_start, 1) if n > 1 else 0), 0
    return text[:keep_start] + "*" * (n - keep_start - keep_end) + (text[n - keep_end :] if keep_end else "")


def mask_value(field: str, value: Any, *, role: Any = None) -> str | None:
    """``value`` as ``role`` (default: the current one) may see it; None when hidden."""
    if value is None:
        return None
    role_name = current_role() if role is None else str(getattr(role, "value", role))
    access = policy().access(field, role_name)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a mobile number read from Excel
    text = str(value)
    if access == "full":
        return text
    if access == "hidden":
        return None
    spec = policy().fields[field]
    return mask_text(text.strip(), spec.keep_start, spec.keep_end)


def jinja_mask(value: Any, field: str) -> str:
    """The template filter: ``{{ value | mask("mobile") }}``; hidden shows as empty."""
    return mask_value(field, value) or ""


def Masked(field: str):
    """A string that the API serialises masked for the current role: ``mobile: Masked("mobile")``."""
    return Annotated[str | None, PlainSerializer(lambda v: mask_value(field, v), return_type=str | None)]


def policy_table() -> list[dict[str, str]]:
    """The policy as rows (field, class, access per role) for docs and the tests."""
    p = policy()
    return [
        {"field": f.code, "class": f.level, "label_zh": f.label_zh}
        | {role: p.access(f.code, role) for role in p.roles}
        for f in p.fields.values()
    ]


# --- finding personal columns in a table ------------------------------------------------------------
# The hundred most common surnames (公安部户籍统计, 2020) cover about 85 % of people; a column of short
# Chinese words that mostly start with one of them is taken for personal names.
COMMON_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_HEADERS = (
    ("id_number", re.compile(r"身份证|证件号|公民身份|id_?card|id_?no|id_?number|sfz", re.IGNORECASE)),
    ("mobile", re.compile(r"手机|电话|联系方式|mobile|phone|^tel", re.IGNORECASE)),
    ("bank_account", re.compile(r"银行账号|银行卡|卡号|账号|bank_?account|card_?no", re.IGNORECASE)),
    ("address", re.compile(r"住址|家庭地址|居住地|^地址$|address", re.IGNORECASE)),
    (
        "person_name",
        re.compile(
            r"^(姓名|名字|客户姓名|借款人|借款人姓名|联系人|法定代表人|法人代表|法人|股东姓名|举报人|投诉人|申请人|"
            r"name|full_?name|person|applicant|borrower)$",
            re.IGNORECASE,
        ),
    ),
)
_NAME_SHAPE = re.compile(r"^[\u4e00-\u9fff·]{2,4}$")
CONTENT_SHARE = 0.8  # share of non-empty cells that must look like the identifier
_SAMPLE = 2000


def _looks_like(values: list[str], test) -> bool:
    return bool(values) and sum(1 for v in values if test(v)) >= CONTENT_SHARE * len(values)


def _is_person_name(value: str) -> bool:
    return bool(_NAME_SHAPE.match(value)) and value[0] in COMMON_SURNAMES


def detect_personal_column(name: str, values) -> str | None:
    """The personal field a column holds (``id_number``, ``mobile``, ``person_name`` …) or None.

    By content first — 公民身份号码 with a right GB 11643 check character, mobile numbers, Chinese
    personal names by shape (2–4 characters, a common surname) — then by the column's header.
    """
    from qiantang.standards.personal_id import is_id_number, is_mobile

    cells = []
    for v in list(values)[:_SAMPLE]:
        if v is None or (isinstance(v, float) and v != v):
            continue
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        text = str(v).strip()
        if text:
            cells.append(text)
    if _looks_like(cells, is_id_number):
        return "id_number"
    if _looks_like(cells, is_mobile):
        return "mobile"
    if _looks_like(cells, _is_person_name):
        return "person_name"
    header = str(name).strip()
    for field, pattern in _HEADERS:
        if pattern.search(header):
            return field
    return None


def field_label(field: str, *, zh: bool = True) -> str:
    spec = policy().fields[field]
    return spec.label_zh if zh else spec.label_en
