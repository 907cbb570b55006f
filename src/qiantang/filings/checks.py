"""Cross-field checks of a template, compiled once and explained in Chinese with the numbers.

The template module defines what a check means (:func:`qiantang.filings.templates.evaluate_check`,
with its rounding tolerance). Here each check is compiled into plain closures, so that validating
ten thousand rows does not re-read the expression for every row, and a failing check is written out
with every column it involves and the values the user entered, e.g.
``资产总额 1,000.00 ≠ 负债总额 600.00 + 所有者权益（净资产） 300.00（资产总额应等于…）``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from qiantang.filings.templates import (
    _BINOP,
    _COMPARE,
    CHECK_TOLERANCE,
    FilingTemplate,
    TemplateCheck,
    TemplateField,
    _parsed,
)

Values = Mapping[str, float | int | None]
_Expr = Callable[[Values], float]

_SYMBOL = {ast.Eq: "=", ast.LtE: "≤", ast.Lt: "<", ast.GtE: "≥", ast.Gt: ">"}
_NEGATED = {ast.Eq: "≠", ast.LtE: ">", ast.Lt: "≥", ast.GtE: "<", ast.Gt: "≤"}
_BINOP_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "×", ast.Div: "÷"}
_PRECEDENCE = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2}


def _build(node: ast.AST) -> _Expr:
    if isinstance(node, ast.Constant):
        constant = float(node.value)
        return lambda values: constant
    if isinstance(node, ast.Name):
        name = node.id
        return lambda values: float(values[name])  # type: ignore[arg-type]
    if isinstance(node, ast.UnaryOp):
        operand = _build(node.operand)
        return lambda values: -operand(values)
    if isinstance(node, ast.BinOp):
        left, right, op = _build(node.left), _build(node.right), _BINOP[type(node.op)]
        return lambda values: op(left(values), right(values))
    raise ValueError(type(node).__name__)


@dataclass(frozen=True)
class _Compiled:
    names: tuple[str, ...]
    sides: tuple[_Expr, ...]  # left, then one per comparator
    tests: tuple[Callable[[float, float], bool], ...]


@cache
def _compiled(check: TemplateCheck) -> _Compiled:
    compare = _parsed(check.expr).body
    assert isinstance(compare, ast.Compare)
    sides = (_build(compare.left), *(_build(c) for c in compare.comparators))
    tests = tuple(_COMPARE[type(op)] for op in compare.ops)
    return _Compiled(check.fields, sides, tests)


def failing_links(check: TemplateCheck, values: Values) -> list[int] | None:
    """Indexes of the comparisons of a (chained) check that fail; None if a value it needs is missing."""
    compiled = _compiled(check)
    for name in compiled.names:
        if values.get(name) is None:
            return None
    try:
        numbers = [side(values) for side in compiled.sides]
    except ZeroDivisionError:
        return None
    return [i for i, test in enumerate(compiled.tests) if not test(numbers[i], numbers[i + 1])]


def broken_checks(template: FilingTemplate, values: Values) -> list[tuple[TemplateCheck, list[int]]]:
    """The checks these values break, each with its failing comparisons (same verdict as templates.py)."""
    out = []
    for check in template.checks:
        links = failing_links(check, values)
        if links:
            out.append((check, links))
    return out


def format_value(field: TemplateField | None, value: float | int | None) -> str:
    """A value as a message shows it: counts whole, amounts and ratios with two decimals."""
    if value is None:
        return "—"
    if field is not None and field.type == "count":
        return f"{round(value):,}"
    return f"{value:,.2f}"


def _fields(template: FilingTemplate) -> dict[str, TemplateField]:
    return {f.code: f for f in template.fields}


def _render(node: ast.AST, fields: Mapping[str, TemplateField], values: Values | None, zh: bool) -> str:
    if isinstance(node, ast.Constant):
        return f"{float(node.value):g}"
    if isinstance(node, ast.Name):
        f = fields.get(node.id)
        name = (f.name_zh if zh else f.name_en) if f else node.id
        if values is None:
            return name
        return f"{name} {format_value(f, values.get(node.id))}"
    if isinstance(node, ast.UnaryOp):
        inner = _render(node.operand, fields, values, zh)
        return f"-({inner})" if isinstance(node.operand, ast.BinOp) else f"-{inner}"
    if isinstance(node, ast.BinOp):
        level = _PRECEDENCE[type(node.op)]
        left = _render(node.left, fields, values, zh)
        right = _render(node.right, fields, values, zh)
        if isinstance(node.left, ast.BinOp) and _PRECEDENCE[type(node.left.op)] < level:
            left = f"({left})"
        if isinstance(node.right, ast.BinOp) and (
            _PRECEDENCE[type(node.right.op)] < level
            or (_PRECEDENCE[type(node.right.op)] == level and type(node.op) in (ast.Sub, ast.Div))
        ):
            right = f"({right})"
        return f"{left} {_BINOP_SYMBOL[type(node.op)]} {right}"
    raise ValueError(type(node).__name__)


def describe_check(template: FilingTemplate, check: TemplateCheck, *, zh: bool = True) -> str:
    """The rule with field names instead of codes, e.g. ``资产总额 = 负债总额 + 所有者权益``."""
    compare = _parsed(check.expr).body
    assert isinstance(compare, ast.Compare)
    fields = _fields(template)
    parts = [_render(compare.left, fields, None, zh)]
    for op, right in zip(compare.ops, compare.comparators, strict=True):
        parts.append(f"{_SYMBOL[type(op)]} {_render(right, fields, None, zh)}")
    return " ".join(parts)


def explain_failure(
    template: FilingTemplate, check: TemplateCheck, values: Values, links: list[int] | None = None
) -> str:
    """What is wrong, with every value involved, then the rule in words (Chinese)."""
    if links is None:
        links = failing_links(check, values) or []
    compare = _parsed(check.expr).body
    assert isinstance(compare, ast.Compare)
    fields = _fields(template)
    sides = [compare.left, *compare.comparators]
    texts = []
    for i in links:
        left = _render(sides[i], fields, values, True)
        right = _render(sides[i + 1], fields, values, True)
        texts.append(f"{left} {_NEGATED[type(compare.ops[i])]} {right}")
    return "；".join(texts) + f"（{check.message_zh}）"


def check_headers(
    template: FilingTemplate, check: TemplateCheck, header: Callable[[TemplateField], str]
) -> str:
    """Every column a check involves, joined for the error table's column cell."""
    fields = _fields(template)
    return "、".join(header(fields[name]) for name in check.fields)


@dataclass(frozen=True)
class CheckResult:
    check: TemplateCheck
    rule: str  # the rule in words
    passed: bool | None  # None: a value it needs is missing
    explanation: str  # why it failed ("" when it passed)


def check_results(template: FilingTemplate, values: Values, *, zh: bool = True) -> list[CheckResult]:
    """Every check of the template with its outcome for these values (for the filing page)."""
    out = []
    for check in template.checks:
        links = failing_links(check, values)
        passed = None if links is None else not links
        explanation = explain_failure(template, check, values, links) if links else ""
        out.append(CheckResult(check, describe_check(template, check, zh=zh), passed, explanation))
    return out


__all__ = [
    "CHECK_TOLERANCE",
    "CheckResult",
    "broken_checks",
    "check_headers",
    "check_results",
    "describe_check",
    "explain_failure",
    "failing_links",
    "format_value",
]
