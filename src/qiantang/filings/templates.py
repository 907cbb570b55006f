"""Filing templates as data: fields (unit, type, bounds) and cross-field checks, loaded from TOML.

A check is a small arithmetic comparison over field codes, e.g.
``total_assets == total_liabilities + equity`` or ``a <= b <= c``. It is parsed with :mod:`ast`
and evaluated over a whitelist of node types, never with ``eval``.
"""

from __future__ import annotations

import ast
import operator
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

# Reported figures carry two decimals; a sum may differ from its parts by rounding.
CHECK_TOLERANCE = 0.015


@dataclass(frozen=True)
class TemplateField:
    code: str
    name_zh: str
    name_en: str
    unit: str
    type: str  # amount | count | ratio
    required: bool = True
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class TemplateCheck:
    code: str
    expr: str
    message_zh: str
    message_en: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class FilingTemplate:
    code: str
    version: str
    name_zh: str
    name_en: str
    institution_types: tuple[str, ...]
    frequency: str
    due_days: int
    basis: str
    fields: tuple[TemplateField, ...]
    checks: tuple[TemplateCheck, ...] = field(default=())

    @property
    def is_annual(self) -> bool:
        """An annual return (period = the calendar year, named by 31 December) rather than quarterly."""
        return self.frequency == "annual"

    def applies_to(self, type_code: str) -> bool:
        """Whether institutions of this type file the template ("*" in the data: every type)."""
        return "*" in self.institution_types or type_code in self.institution_types

    def field(self, code: str) -> TemplateField:
        for f in self.fields:
            if f.code == code:
                return f
        raise KeyError(code)

    @property
    def field_codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.fields)


_COMPARE = {
    ast.Eq: lambda a, b: abs(a - b) <= CHECK_TOLERANCE,
    ast.LtE: lambda a, b: a <= b + CHECK_TOLERANCE,
    ast.Lt: lambda a, b: a < b,
    ast.GtE: lambda a, b: a + CHECK_TOLERANCE >= b,
    ast.Gt: lambda a, b: a > b,
}
_BINOP = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def parse_check(expr: str) -> ast.Expression:
    """Parse a check expression, rejecting anything but arithmetic comparisons over names."""
    tree = ast.parse(expr, mode="eval")
    for node in ast.walk(tree):
        allowed = (
            ast.Expression,
            ast.Compare,
            ast.BinOp,
            ast.UnaryOp,
            ast.Name,
            ast.Constant,
            ast.Load,
            ast.USub,
            *_COMPARE,
            *_BINOP,
        )
        if not isinstance(node, allowed):
            raise ValueError(f"校验表达式不允许 {type(node).__name__}: {expr}")
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise ValueError(f"校验表达式只允许数字常量: {expr}")
    if not isinstance(tree.body, ast.Compare):
        raise ValueError(f"校验表达式必须是比较: {expr}")
    return tree


def check_names(expr: str) -> tuple[str, ...]:
    """The field codes a check reads, in order of first use."""
    nodes = [n for n in ast.walk(parse_check(expr)) if isinstance(n, ast.Name)]
    names: list[str] = []
    for node in sorted(nodes, key=lambda n: n.col_offset):  # ast.walk is breadth-first
        if node.id not in names:
            names.append(node.id)
    return tuple(names)


def _value(node: ast.AST, values: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return float(values[node.id])
    if isinstance(node, ast.UnaryOp):
        return -_value(node.operand, values)
    if isinstance(node, ast.BinOp):
        return _BINOP[type(node.op)](_value(node.left, values), _value(node.right, values))
    raise ValueError(type(node).__name__)


def evaluate_check(expr: str, values: Mapping[str, float | None]) -> bool | None:
    """True/False for the check; None when a value it needs is missing (reported elsewhere)."""
    tree = _parsed(expr)
    if any(values.get(name) is None for name in check_names(expr)):
        return None
    compare = tree.body
    assert isinstance(compare, ast.Compare)
    left = _value(compare.left, values)  # type: ignore[arg-type]
    for op, right_node in zip(compare.ops, compare.comparators, strict=True):
        right = _value(right_node, values)  # type: ignore[arg-type]
        if not _COMPARE[type(op)](left, right):
            return False
        left = right
    return True


@cache
def _parsed(expr: str) -> ast.Expression:
    return parse_check(expr)


def _load(text: str) -> FilingTemplate:
    raw = tomllib.loads(text)
    fields = tuple(TemplateField(**f) for f in raw.pop("fields"))
    codes = {f.code for f in fields}
    checks = []
    for c in raw.pop("checks", []):
        names = check_names(c["expr"])
        unknown = [n for n in names if n not in codes]
        if unknown:
            raise ValueError(f"模板 {raw['code']} 的校验 {c['code']} 引用了未定义的字段: {unknown}")
        checks.append(TemplateCheck(fields=names, **c))
    raw["institution_types"] = tuple(raw["institution_types"])
    return FilingTemplate(fields=fields, checks=tuple(checks), **raw)


@cache
def all_templates() -> dict[str, FilingTemplate]:
    """Every template shipped with the package, by code."""
    out: dict[str, FilingTemplate] = {}
    folder = resources.files("qiantang.filings") / "templates_data"
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            template = _load(entry.read_text(encoding="utf-8"))
            out[template.code] = template
    return out


def quarterly_templates() -> dict[str, FilingTemplate]:
    """The quarterly returns (one per institution type): the ones compliance and reminders follow."""
    return {code: t for code, t in all_templates().items() if not t.is_annual}


def annual_templates() -> list[FilingTemplate]:
    """Templates filed once a year, besides an institution's quarterly return (e.g. the talent return)."""
    return [t for t in all_templates().values() if t.is_annual]


def get_template(code: str) -> FilingTemplate:
    try:
        return all_templates()[code]
    except KeyError:
        raise KeyError(f"未知的报表模板: {code}") from None


def failed_checks(template: FilingTemplate, values: Mapping[str, float | None]) -> list[TemplateCheck]:
    """The template's cross-field checks that these values break."""
    return [c for c in template.checks if evaluate_check(c.expr, values) is False]
