"""Lenders' products: validation, versions, approval by city staff, and who may see or edit which.

Every save is a new ``ProductVersion`` (a snapshot of the editable fields) waiting for city staff.
Decision (documented in docs/methods/matching.md): the ``Product`` row always holds what firms are
matched against. A product that was never approved holds its latest draft (it is not matched: its
status is pending); an approved product that is edited **stays live on its last approved version**
until city staff approve the edit — then the snapshot is copied onto the row. A rejection keeps the
live version and records the reason on the rejected snapshot. Nothing is ever deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import false, select, true
from sqlalchemy.orm import Session

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.db import utcnow
from qiantang.errors import Forbidden, NotFound, QiantangError, RowError, ValidationFailed
from qiantang.matching.models import Collateral, Product, ProductKind, ProductStatus, ProductVersion

POLICY_TAGS = ("科技", "三农", "绿色", "普惠", "首贷")
SIZES = ("large", "medium", "small", "micro")

# The editable fields, in page order, with their names for errors and the version diff.
FIELDS: dict[str, tuple[str, str]] = {
    "name": ("产品名称", "Product name"),
    "kind": ("产品类型", "Kind"),
    "min_amount": ("金额下限", "Minimum amount"),
    "max_amount": ("金额上限", "Maximum amount"),
    "min_term_months": ("最短期限（月）", "Shortest term (months)"),
    "max_term_months": ("最长期限（月）", "Longest term (months)"),
    "min_spread_bp": ("利率下限（LPR 加点，基点）", "Lowest rate (LPR + bp)"),
    "max_spread_bp": ("利率上限（LPR 加点，基点）", "Highest rate (LPR + bp)"),
    "sizes": ("适用企业规模", "Firm sizes"),
    "industries": ("适用行业", "Industries"),
    "districts": ("服务区县", "Districts"),
    "min_age_years": ("最短成立年限（年）", "Minimum firm age (years)"),
    "collateral": ("接受的担保方式", "Security accepted"),
    "partner_guarantor_id": ("合作担保机构", "Partner guarantor"),
    "policy_tags": ("政策标签", "Policy tags"),
    "documents": ("所需材料", "Documents required"),
    "first_loan_only": ("仅限首贷企业", "First-loan firms only"),
    "promise_contact_days": ("承诺首次对接（工作日）", "Promised first contact (working days)"),
    "promise_decision_days": ("承诺审批决定（工作日）", "Promised decision (working days)"),
}


class ProductStepRefused(QiantangError):
    status_code = 409


# --- who sees and edits what --------------------------------------------------------------------
def product_clause(scope: Scope):
    """The products a user may see: a lender its own institution's, a firm approved ones, staff all."""
    if scope.is_citywide or scope.role == Role.DISTRICT_OFFICER:
        return true()
    if scope.role == Role.LENDER and scope.institution_id is not None:
        return Product.institution_id == scope.institution_id
    if scope.role == Role.FIRM:
        return Product.status == ProductStatus.APPROVED
    return false()


def get_product(session: Session, *, scope: Scope, product_id: int, edit: bool = False) -> Product:
    """One product if the user may see it (404 if unknown or hidden); ``edit``: only its own lender (403)."""
    product = session.get(Product, product_id)
    visible = product is not None and session.scalar(
        select(Product.id).where(Product.id == product_id, product_clause(scope))
    )
    if not visible:
        raise NotFound(f"未找到融资产品（{product_id}）", message_en=f"Product {product_id} not found")
    if edit and (scope.role != Role.LENDER or product.institution_id != scope.institution_id):
        raise Forbidden(
            "只能编辑本机构的产品", message_en="You may only edit your own institution's products"
        )
    return product


# --- validation ---------------------------------------------------------------------------------
def _names(session: Session) -> dict[str, dict[str, str]]:
    from qiantang.registry.models import Area
    from qiantang.standards.industry import SECTIONS

    industries = {}
    for s in SECTIONS:
        for word in (s.code, s.name_zh, s.name_en):
            industries[word.strip().lower()] = s.code
    districts = {}
    for a in session.scalars(select(Area).where(Area.valid_to.is_(None))):
        for word in (a.code, a.name_zh, a.name_en):
            if word:
                districts[word.strip().lower()] = a.code
    return {"industries": industries, "districts": districts}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        parts = value.replace("，", ",").replace("、", ",").replace("\n", ",").split(",")
        return [p.strip() for p in parts if p.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def _number(raw: Mapping, key: str, label: str, errors: list[RowError], *, integer: bool = False):
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.append(RowError(None, label, "必填"))
        return None
    try:
        text = str(value).replace(",", "").strip()
        number = int(text) if integer else float(text)
    except ValueError:
        errors.append(RowError(None, label, "须为整数" if integer else "须为数字"))
        return None
    if number != number or number in (float("inf"), float("-inf")):
        errors.append(RowError(None, label, "须为数字"))
        return None
    return number


def check_product(session: Session, raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[RowError]]:
    """Every problem of a product at once, in Chinese by field; the values as stored when there is none.

    ``raw`` is what a form or the API sends: amounts in 万元 (``min_amount_wan``), lists as lists or
    text separated by 、 or commas, industries as GB/T 4754 section names (or letters), districts as
    names (or codes), the partner guarantor as an institution id.
    """
    errors: list[RowError] = []
    L = {k: v[0] for k, v in FIELDS.items()}
    values: dict[str, Any] = {}
    name = str(raw.get("name") or "").strip()
    if not name:
        errors.append(RowError(None, L["name"], "必填"))
    elif len(name) > 100:
        errors.append(RowError(None, L["name"], "不应超过 100 字"))
    values["name"] = name
    try:
        values["kind"] = ProductKind(str(raw.get("kind") or "")).value
    except ValueError:
        errors.append(RowError(None, L["kind"], "请选择产品类型"))
    lo = _number(raw, "min_amount_wan", L["min_amount"] + "（万元）", errors)
    hi = _number(raw, "max_amount_wan", L["max_amount"] + "（万元）", errors)
    if lo is not None and not 0 < lo <= 1_000_000:
        errors.append(RowError(None, L["min_amount"] + "（万元）", "须大于 0 且不超过 100 亿元"))
    elif hi is not None and not 0 < hi <= 1_000_000:
        errors.append(RowError(None, L["max_amount"] + "（万元）", "须大于 0 且不超过 100 亿元"))
    elif lo is not None and hi is not None and lo > hi:
        errors.append(RowError(None, L["max_amount"] + "（万元）", "金额上限不得低于下限"))
    values["min_amount"] = round(lo * 10_000, 2) if lo is not None else None
    values["max_amount"] = round(hi * 10_000, 2) if hi is not None else None
    t_lo = _number(raw, "min_term_months", L["min_term_months"], errors, integer=True)
    t_hi = _number(raw, "max_term_months", L["max_term_months"], errors, integer=True)
    if t_lo is not None and not 1 <= t_lo <= 360:
        errors.append(RowError(None, L["min_term_months"], "须在 1 至 360 个月之间"))
    elif t_hi is not None and not 1 <= t_hi <= 360:
        errors.append(RowError(None, L["max_term_months"], "须在 1 至 360 个月之间"))
    elif t_lo is not None and t_hi is not None and t_lo > t_hi:
        errors.append(RowError(None, L["max_term_months"], "最长期限不得短于最短期限"))
    values["min_term_months"], values["max_term_months"] = t_lo, t_hi
    s_lo = _number(raw, "min_spread_bp", L["min_spread_bp"], errors, integer=True)
    s_hi = _number(raw, "max_spread_bp", L["max_spread_bp"], errors, integer=True)
    # Below LPR is allowed (negative spread), but not below zero rate or above the judicial cap (~4×LPR).
    for value, key in ((s_lo, "min_spread_bp"), (s_hi, "max_spread_bp")):
        if value is not None and not -300 <= value <= 1500:
            errors.append(RowError(None, L[key], "须在 -300 至 1500 基点之间"))
    if s_lo is not None and s_hi is not None and s_lo > s_hi:
        errors.append(RowError(None, L["max_spread_bp"], "利率上限不得低于下限"))
    values["min_spread_bp"], values["max_spread_bp"] = s_lo, s_hi

    def pick(key: str, allowed: Mapping[str, str], what: str) -> list[str]:
        out, unknown = [], []
        for item in _as_list(raw.get(key)):
            code = allowed.get(item.lower())
            if code is None:
                unknown.append(item)
            elif code not in out:
                out.append(code)
        if unknown:
            errors.append(RowError(None, L[key], f"无法识别的{what}：{'、'.join(unknown)}"))
        return out

    names = _names(session)
    values["sizes"] = pick("sizes", {s: s for s in SIZES} | _size_words(), "企业规模")
    values["industries"] = pick("industries", names["industries"], "行业门类")
    values["districts"] = pick("districts", names["districts"], "区县")
    values["collateral"] = pick("collateral", _collateral_words(), "担保方式")
    values["policy_tags"] = pick("policy_tags", {t.lower(): t for t in POLICY_TAGS}, "政策标签")
    age = raw.get("min_age_years")
    if age is None or (isinstance(age, str) and not age.strip()):
        values["min_age_years"] = 0.0
    else:
        a = _number(raw, "min_age_years", L["min_age_years"], errors)
        if a is not None and not 0 <= a <= 50:
            errors.append(RowError(None, L["min_age_years"], "须在 0 至 50 年之间"))
        values["min_age_years"] = a
    documents = [d for d in (raw.get("documents") or []) if str(d).strip()]
    if isinstance(raw.get("documents"), str):
        documents = [d.strip() for d in raw["documents"].splitlines() if d.strip()]
    if len(documents) > 30 or any(len(str(d)) > 60 for d in documents):
        errors.append(RowError(None, L["documents"], "至多 30 项，每项不超过 60 字"))
    values["documents"] = [str(d).strip() for d in documents]
    guarantor = raw.get("partner_guarantor_id")
    values["partner_guarantor_id"] = None
    if guarantor not in (None, ""):
        from qiantang.registry.models import Institution

        try:
            gid = int(guarantor)
        except (TypeError, ValueError):
            gid = None
        if gid is None or session.get(Institution, gid) is None:
            errors.append(RowError(None, L["partner_guarantor_id"], "未登记的机构"))
        values["partner_guarantor_id"] = gid
    values["first_loan_only"] = str(raw.get("first_loan_only") or "").lower() in ("1", "true", "on", "yes")
    for key in ("promise_contact_days", "promise_decision_days"):
        d = _number(raw, key, L[key], errors, integer=True)
        if d is not None and not 1 <= d <= 60:
            errors.append(RowError(None, L[key], "须在 1 至 60 个工作日之间"))
        values[key] = d
    return values, errors


def _size_words() -> dict[str, str]:
    from qiantang.standards.sme_size import SizeClass

    return {s.zh.lower(): s.value for s in SizeClass}


def _collateral_words() -> dict[str, str]:
    return {w.lower(): c.value for c in Collateral for w in (c.value, c.zh, c.en)}


def raw_of(product_or_snapshot: Product | Mapping[str, Any]) -> dict[str, Any]:
    """A product's (or snapshot's) values in the form's terms, for pre-filling and for PATCH."""
    get = (
        product_or_snapshot.get
        if isinstance(product_or_snapshot, Mapping)
        else lambda k: getattr(product_or_snapshot, k)
    )
    out = {k: get(k) for k in FIELDS}
    out["kind"] = getattr(out["kind"], "value", out["kind"])
    out["min_amount_wan"] = round(out.pop("min_amount") / 10_000, 2)
    out["max_amount_wan"] = round(out.pop("max_amount") / 10_000, 2)
    out["first_loan_only"] = "1" if out["first_loan_only"] else ""
    return out


# --- saving and approval ------------------------------------------------------------------------
def _validated(session: Session, raw: Mapping[str, Any]) -> dict[str, Any]:
    values, errors = check_product(session, raw)
    if errors:
        raise ValidationFailed("融资产品有误，未保存", errors)
    return values


def _next_version(session: Session, product: Product) -> int:
    versions = session.scalars(select(ProductVersion.version).where(ProductVersion.product_id == product.id))
    return max([product.version, *versions]) + 1


def _supersede_pending(session: Session, product: Product) -> None:
    for v in pending_versions(session, product):
        v.state = "superseded"


def pending_versions(session: Session, product: Product) -> list[ProductVersion]:
    return list(
        session.scalars(
            select(ProductVersion).where(
                ProductVersion.product_id == product.id, ProductVersion.state == "pending"
            )
        )
    )


def create_product(session: Session, *, raw: Mapping[str, Any], institution_id: int, actor) -> Product:
    """A lender's new product: stored, not matched, waiting for city staff (version 1, pending)."""
    values = _validated(session, raw)
    product = Product(institution_id=institution_id, status=ProductStatus.PENDING, version=1, **values)
    product.kind = ProductKind(values["kind"])
    session.add(product)
    session.flush()
    session.add(
        ProductVersion(
            product_id=product.id,
            version=1,
            snapshot=values,
            saved_by=getattr(actor, "username", None),
            state="pending",
        )
    )
    session.flush()
    return product


def edit_product(session: Session, *, product: Product, raw: Mapping[str, Any], actor) -> ProductVersion:
    """A new version waiting for approval; an approved product stays live on its approved version."""
    values = _validated(session, raw)
    if product.status == ProductStatus.APPROVED and not session.scalar(
        select(ProductVersion.id).where(ProductVersion.product_id == product.id)
    ):
        # approved before versions were kept (e.g. loaded): keep what was live as its first version
        session.add(
            ProductVersion(
                product_id=product.id,
                version=product.version,
                snapshot=snapshot_of(product),
                saved_by=product.approved_by,
                state="approved",
                decided_by=product.approved_by,
                decided_at=product.approved_at,
            )
        )
        session.flush()
    _supersede_pending(session, product)
    version = ProductVersion(
        product_id=product.id,
        version=_next_version(session, product),
        snapshot=values,
        saved_by=getattr(actor, "username", None),
        state="pending",
    )
    session.add(version)
    if product.approved_at is None and product.status != ProductStatus.APPROVED:
        _apply(product, values)  # nothing live yet: the row holds the draft
        product.status = ProductStatus.PENDING
    session.flush()
    return version


def snapshot_of(product: Product) -> dict[str, Any]:
    out = {k: getattr(product, k) for k in FIELDS}
    out["kind"] = product.kind.value
    out = {k: list(v) if isinstance(v, list | tuple) else v for k, v in out.items()}
    return out


def _apply(product: Product, values: Mapping[str, Any]) -> None:
    for k in FIELDS:
        setattr(product, k, values.get(k))
    product.kind = ProductKind(values["kind"])


def review(
    session: Session,
    *,
    product: Product,
    actor,
    approved: bool,
    reason: str = "",
    now: datetime | None = None,
) -> ProductVersion:
    """City staff approve the pending version (it becomes what firms are matched against) or reject it."""
    pending = pending_versions(session, product)
    if not pending:
        raise ProductStepRefused(
            "该产品没有待审批的版本", message_en="Nothing of this product waits for approval"
        )
    version = max(pending, key=lambda v: v.version)
    reason = (reason or "").strip()
    if not approved and not reason:
        raise ValidationFailed("退回须说明理由", [RowError(None, "退回理由", "必填")])
    if len(reason) > 500:
        raise ValidationFailed("理由过长", [RowError(None, "退回理由", "不应超过 500 字")])
    now = now or utcnow()
    who = getattr(actor, "username", None)
    version.decided_by, version.decided_at, version.reason = who, now, reason or None
    if approved:
        version.state = "approved"
        _apply(product, version.snapshot)
        product.version = version.version
        product.status = ProductStatus.APPROVED
        product.approved_by, product.approved_at = who, now
    else:
        version.state = "rejected"
        if product.approved_at is None and product.status != ProductStatus.APPROVED:
            product.status = ProductStatus.DRAFT  # returned to the lender
    session.flush()
    return version


# --- history ------------------------------------------------------------------------------------
def history(session: Session, *, product: Product, zh: bool = True) -> list[dict[str, Any]]:
    """Every version, newest first, each with what changed from the version before (field names in words)."""
    versions = list(
        session.scalars(
            select(ProductVersion)
            .where(ProductVersion.product_id == product.id)
            .order_by(ProductVersion.version)
        )
    )
    words = labels(session, zh=zh)
    out, before = [], None
    for v in versions:
        out.append({"version": v, "changes": diff(before, v.snapshot, words, zh=zh)})
        before = v.snapshot
    return out[::-1]


def labels(session: Session, *, zh: bool) -> dict[str, dict[str, str]]:
    from qiantang.matching.service import label_names
    from qiantang.registry.models import Institution

    names = label_names(session, zh=zh)
    names["kind"] = {k.value: (k.zh if zh else k.en) for k in ProductKind}
    names["institution"] = {str(i): n for i, n in session.execute(select(Institution.id, Institution.name))}
    return names


def show(key: str, value: Any, words: Mapping[str, Mapping[str, str]], *, zh: bool = True) -> str:
    """One field's value for people: names not codes, 万元 not 元."""
    lookup = {
        "sizes": "size",
        "industries": "industry",
        "districts": "district",
        "collateral": "collateral",
        "kind": "kind",
        "partner_guarantor_id": "institution",
    }
    if value is None or value == [] or value == "":
        if key in ("sizes", "industries", "districts"):
            return "不限" if zh else "any"
        return "—"
    if key in ("min_amount", "max_amount"):
        wan = f"{value / 10_000:,.2f}".removesuffix(".00")
        return f"{wan} 万元" if zh else f"CNY {wan} × 10k"
    if key == "first_loan_only":
        return ("是" if value else "否") if zh else ("yes" if value else "no")
    table = words.get(lookup.get(key, ""), {})
    if isinstance(value, list):
        return "、".join(table.get(str(v), str(v)) for v in value)
    return table.get(str(value), f"{value:g}" if isinstance(value, float) else str(value))


def diff(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], words: Mapping, *, zh: bool = True
) -> list[dict[str, str]]:
    """The fields that differ: [{field, before, after}], in page order with the fields' names."""
    if old is None:
        return []
    out = []
    for key, (name_zh, name_en) in FIELDS.items():
        a, b = old.get(key), new.get(key)
        if (a or None) != (b or None):
            out.append(
                {
                    "field": name_zh if zh else name_en,
                    "before": show(key, a, words, zh=zh),
                    "after": show(key, b, words, zh=zh),
                }
            )
    return out
