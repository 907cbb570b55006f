"""Guarantee imports checked whole (a self-guarantee, an amount ≤ 0 or above the guaranteed loan,
an unknown firm or loan are rejected, nothing written), and the scenario form's parsing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.audit import service as audit
from qiantang.auth.scope import Scope
from qiantang.db import bulk_insert
from qiantang.enterprises.models import Enterprise, Guarantee, GuaranteeKind, Loan
from qiantang.errors import RowError, ValidationFailed
from qiantang.network.service import ScenarioSpec
from qiantang.standards.industry import SECTIONS
from qiantang.standards.uscc import check_uscc
from qiantang.uploads import Column, duplicate_errors, parse_table, template_xlsx

KINDS = {
    "单向": GuaranteeKind.ONE_WAY,
    "互保": GuaranteeKind.MUTUAL,
    "联保": GuaranteeKind.JOINT,
    "one_way": GuaranteeKind.ONE_WAY,
    "mutual": GuaranteeKind.MUTUAL,
    "joint": GuaranteeKind.JOINT,
}
COLUMNS = (
    Column("guarantor", "担保人统一社会信用代码", "Guarantor USCC"),
    Column("borrower", "被担保人统一社会信用代码", "Borrower USCC"),
    Column("contract_no", "贷款合同号", "Loan contract number"),
    Column("amount_wan", "担保金额（万元）", "Guaranteed amount (CNY 10k)", kind="number"),
    Column("kind", "担保方式", "Kind", kind="choice", choices=KINDS),
    Column("agreement_no", "联保协议号", "Joint agreement number", required=False),
    Column("start_date", "起始日", "Start date", kind="date"),
    Column("end_date", "到期日", "End date", kind="date", required=False),
)


def template() -> bytes:
    return template_xlsx(
        COLUMNS,
        sheet_title="担保关系",
        notes=[
            "每行一笔担保：担保人为被担保人的一笔贷款（按贷款合同号）提供担保。",
            "担保人与被担保人不能相同；担保金额须大于 0 且不超过该笔贷款金额；企业与贷款须已在平台登记。",
            "联保须填写联保协议号，同一联保小组使用同一协议号。整个文件校验通过才会导入。",
        ],
    )


def import_guarantees(session: Session, *, content: bytes, filename: str, actor) -> int:
    """Check a guarantee file whole and store every row (or none); returns how many were stored."""
    table = parse_table(content, filename, COLUMNS)
    codes = set()
    for r in table.rows:
        for key in ("guarantor", "borrower"):
            if r.values.get(key):
                r.values[key] = check_uscc(r.values[key]).code
                codes.add(r.values[key])
    firms = dict(
        session.execute(select(Enterprise.uscc, Enterprise.id).where(Enterprise.uscc.in_(codes))).all()
    )
    contracts = {r.values.get("contract_no") for r in table.rows if r.values.get("contract_no")}
    loans = {
        c: (loan_id, borrower, amount)
        for c, loan_id, borrower, amount in session.execute(
            select(Loan.contract_no, Loan.id, Loan.borrower_id, Loan.amount).where(
                Loan.contract_no.in_(contracts)
            )
        ).all()
    }
    for r in table.rows:
        v = r.values
        g, b = firms.get(v["guarantor"] or ""), firms.get(v["borrower"] or "")
        if v["guarantor"] and g is None:
            table.errors.append(
                RowError(r.number, "担保人统一社会信用代码", f"未登记的企业 {v['guarantor']}")
            )
        if v["borrower"] and b is None:
            table.errors.append(
                RowError(r.number, "被担保人统一社会信用代码", f"未登记的企业 {v['borrower']}")
            )
        if v["guarantor"] and v["guarantor"] == v["borrower"]:
            table.errors.append(
                RowError(r.number, "担保人统一社会信用代码", "担保人与被担保人相同（自我担保）")
            )
        loan = loans.get(v["contract_no"] or "")
        if v["contract_no"] and loan is None:
            table.errors.append(RowError(r.number, "贷款合同号", f"未登记的贷款合同 {v['contract_no']}"))
        elif loan is not None and b is not None and loan[1] != b:
            table.errors.append(
                RowError(r.number, "贷款合同号", f"贷款合同 {v['contract_no']} 的借款人不是该被担保人")
            )
        amount = v["amount_wan"]
        if amount is not None and amount <= 0:
            table.errors.append(RowError(r.number, "担保金额（万元）", f"担保金额应大于 0，实为 {amount:g}"))
        elif amount is not None and loan is not None and amount * 1e4 > loan[2] + 0.005:
            table.errors.append(
                RowError(
                    r.number,
                    "担保金额（万元）",
                    f"担保金额 {amount:,.2f} 万元超过所担保贷款的金额 {loan[2] / 1e4:,.2f} 万元",
                )
            )
        if v["kind"] == GuaranteeKind.JOINT and not v.get("agreement_no"):
            table.errors.append(RowError(r.number, "联保协议号", "联保须填写联保协议号"))
        if v["start_date"] and v.get("end_date") and v["end_date"] < v["start_date"]:
            table.errors.append(RowError(r.number, "到期日", "到期日不能早于起始日"))
    table.errors.extend(
        duplicate_errors(
            table.rows,
            lambda r: (r.values["guarantor"], r.values["contract_no"]),
            column="贷款合同号",
            what="担保人对同一贷款的担保",
        )
    )
    table.errors.sort(key=lambda e: (e.row or 0, e.column or ""))
    table.reject_if_errors("担保关系文件")
    # Column-wise bulk insert (COPY on PostgreSQL): a 200k-row file makes no 200k ORM objects.
    rows = [r.values for r in table.rows]
    bulk_insert(
        session.connection(),
        Guarantee.__table__,
        {
            "guarantor_enterprise_id": [firms[v["guarantor"]] for v in rows],
            "borrower_id": [firms[v["borrower"]] for v in rows],
            "loan_id": [loans[v["contract_no"]][0] for v in rows],
            "amount": [round(v["amount_wan"] * 1e4, 2) for v in rows],
            "kind": [GuaranteeKind(v["kind"]).value for v in rows],
            "agreement_no": [v.get("agreement_no") for v in rows],
            "start_date": [v["start_date"].isoformat() for v in rows],
            "end_date": [v["end_date"].isoformat() if v.get("end_date") else None for v in rows],
        },
    )
    stored = len(rows)
    audit.record(
        session,
        action="upload",
        user=actor,
        object_type="guarantees",
        detail={"file": filename, "rows": stored},
    )
    return stored


def _percent(form: dict, key: str, label: str, errors: list, lo: float = 0.0, hi: float = 100.0) -> float:
    try:
        value = float(str(form.get(key, "")).strip())
    except ValueError:
        errors.append(RowError(None, label, f"应为数字，实为“{form.get(key)}”"))
        return 0.0
    if not lo <= value <= hi:
        errors.append(RowError(None, label, f"应在 {lo:g} 到 {hi:g} 之间"))
    return value


def scenario_specs(session: Session, scope: Scope, form: dict) -> list[ScenarioSpec]:
    """The scenario(s) a form asks for; every problem listed in Chinese."""
    errors: list[RowError] = []
    if not scope.is_citywide:
        errors.append(RowError(None, "情景", "情景分析涉及全市担保网络，仅市级人员可运行"))
    recovery = _percent(form, "recovery", "回收率（%）", errors) / 100
    loss = _percent(form, "equity_loss", "净资产损失（%）", errors) / 100
    multiplier = _percent(form, "capacity_multiplier", "损失吸收能力倍数", errors, 0.0, 10.0)
    kind = form.get("kind")
    name = (form.get("name") or "").strip()
    common = {"recovery": recovery, "capacity_multiplier": multiplier}
    specs: list[ScenarioSpec] = []
    if kind == "firms":
        codes = [
            c
            for c in str(form.get("firms", "")).replace("，", ",").replace("\n", ",").split(",")
            if c.strip()
        ]
        found = dict(
            session.execute(
                select(Enterprise.uscc, Enterprise.id).where(
                    Enterprise.uscc.in_([check_uscc(c).code for c in codes])
                )
            ).all()
        )
        missing = [c for c in codes if check_uscc(c).code not in found]
        if not codes:
            errors.append(RowError(None, "企业", "请填写至少一家企业的统一社会信用代码"))
        if missing:
            errors.append(RowError(None, "企业", f"未登记的企业：{'、'.join(missing[:10])}"))
        specs.append(
            ScenarioSpec(
                name=name or f"{len(codes)} 家企业违约",
                kind="firms",
                firm_ids=tuple(sorted(found.values())),
                **common,
            )
        )
    elif kind == "industry":
        target = str(form.get("target", ""))
        section = next((s for s in SECTIONS if s.code == target), None)
        if section is None:
            errors.append(RowError(None, "行业", f"未知的行业门类“{target}”"))
        specs.append(
            ScenarioSpec(
                name=name or f"{section.name_zh if section else target}净资产损失 {loss:.0%}",
                kind="industry",
                target=target,
                equity_loss=loss,
                **common,
            )
        )
    elif kind == "district":
        target = str(form.get("target", ""))
        specs.append(
            ScenarioSpec(
                name=name or f"{target} 区县企业净资产损失 {loss:.0%}",
                kind="district",
                target=target,
                equity_loss=loss,
                **common,
            )
        )
    elif kind == "top_systemic":
        specs.extend(_top_systemic(session, common))
    else:
        errors.append(RowError(None, "情景类型", f"未知的情景类型“{kind}”"))
    if errors:
        raise ValidationFailed("情景参数有误，未运行", errors)
    return specs


def _top_systemic(session: Session, common: dict, n: int = 20) -> list[ScenarioSpec]:
    """Each of the n firms with the largest single-default impact, alone: a batch of scenarios."""
    from qiantang.network.models import NetworkNode
    from qiantang.network.service import require_run

    run = require_run(session)
    rows = session.execute(
        select(NetworkNode.enterprise_id, Enterprise.name)
        .join(Enterprise, Enterprise.id == NetworkNode.enterprise_id)
        .where(NetworkNode.run_id == run.id, NetworkNode.impact_loss.is_not(None))
        .order_by(NetworkNode.impact_loss.desc())
        .limit(n)
    ).all()
    return [
        ScenarioSpec(name=f"{name} 单独违约", kind="firms", firm_ids=(eid,), **common) for eid, name in rows
    ]
