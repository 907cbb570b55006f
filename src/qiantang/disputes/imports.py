"""Disputes by Excel/CSV: one row per dispute, checked whole, written in one transaction."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.disputes import service
from qiantang.disputes.models import Channel, Dispute, Outcome, ProductType
from qiantang.disputes.service import DisputeIn
from qiantang.errors import RowError
from qiantang.registry.models import Area, Institution
from qiantang.uploads import Column, duplicate_errors, parse_table, template_xlsx

WAN = 10_000.0


def _choices(enum) -> dict[str, str]:
    return {m.zh: m.value for m in enum} | {m.en: m.value for m in enum} | {m.value: m.value for m in enum}


def _body_choices() -> dict[str, str]:
    return {b.name_zh: b.code for b in service.bodies().values()} | {
        b.code: b.code for b in service.bodies().values()
    }


def columns() -> tuple[Column, ...]:
    return (
        Column("ref_no", "案号", "Case number"),
        Column("complainant", "申请人", "Complainant"),
        Column(
            "complainant_kind",
            "申请人类型",
            "Complainant kind",
            kind="choice",
            choices={"个人": "person", "企业": "firm", "person": "person", "firm": "firm"},
            required=False,
        ),
        Column("institution_uscc", "被申请机构统一社会信用代码", "Institution USCC", required=False),
        Column("respondent_name", "被申请方名称（无牌照企业）", "Respondent (unlicensed)", required=False),
        Column("district", "区县", "District", required=False),
        Column("product_type", "产品类型", "Product type", kind="choice", choices=_choices(ProductType)),
        Column("amount_wan", "争议金额（万元）", "Amount (CNY 10k)", kind="number", min=0),
        Column("channel", "渠道", "Channel", kind="choice", choices=_choices(Channel)),
        Column("body", "调解/仲裁机构", "Body", kind="choice", choices=_body_choices()),
        Column("received_on", "收到日期", "Received", kind="date"),
        Column("accepted_on", "受理日期", "Accepted", kind="date", required=False),
        Column("closed_on", "结案日期", "Closed", kind="date", required=False),
        Column("outcome", "结果", "Outcome", kind="choice", choices=_choices(Outcome), required=False),
        Column(
            "recovered_wan", "挽回金额（万元）", "Recovered (CNY 10k)", kind="number", min=0, required=False
        ),
        Column("summary", "摘要", "Summary", required=False),
    )


def template() -> bytes:
    bodies = [[b.name_zh, b.channel.zh] for b in service.bodies().values()]
    return template_xlsx(
        columns(),
        sheet_title="金融纠纷",
        notes=[
            "每行一件纠纷。被申请方为持牌机构的填写其统一社会信用代码；无牌照企业填写名称和区县。",
            "调解/仲裁机构须为“机构”表中的名称，且与渠道相符。",
            "日期须按顺序：收到 ≤ 受理 ≤ 结案，且不晚于今天；结案的须同时填写结案日期和结果。",
            "申请人只填姓名或企业名称，不填证件号码和电话。整个文件校验通过才会导入。",
        ],
        extra_sheets={"机构": [["名称", "渠道"], *bodies]},
    )


def import_disputes(
    session: Session,
    *,
    content: bytes,
    filename: str,
    actor,
    scope: Scope | None = None,
    today: date | None = None,
) -> int:
    """Validate the whole file, then register every dispute in it."""
    today = today or date.today()
    table = parse_table(content, filename, columns())
    codes = {
        str(r.values["institution_uscc"]).strip().upper()
        for r in table.rows
        if r.values.get("institution_uscc")
    }
    institutions = {
        i.uscc: i for i in session.scalars(select(Institution).where(Institution.uscc.in_(codes)))
    }
    areas = {a.name_zh: a.code for a in session.scalars(select(Area))} | {
        a.code: a.code for a in session.scalars(select(Area))
    }
    refs = {str(r.values.get("ref_no") or "").strip() for r in table.rows}
    known = set(session.scalars(select(Dispute.ref_no).where(Dispute.ref_no.in_(refs))))
    table.errors.extend(
        duplicate_errors(
            table.rows, lambda r: (str(r.values.get("ref_no") or "").strip(),), column="案号", what="纠纷"
        )
    )
    items: list[DisputeIn] = []
    for r in table.rows:
        v = r.values
        uscc = str(v.get("institution_uscc") or "").strip().upper()
        inst = institutions.get(uscc)
        if uscc and inst is None:
            table.errors.append(RowError(r.number, "被申请机构统一社会信用代码", f"未登记的机构 {uscc}"))
        district = str(v.get("district") or "").strip()
        if district and district not in areas:
            table.errors.append(RowError(r.number, "区县", f"未知的区县“{district}”"))
        ref = str(v.get("ref_no") or "").strip()
        if ref in known:
            table.errors.append(RowError(r.number, "案号", f"案号 {ref} 已登记"))
        item = DisputeIn(
            ref_no=ref,
            complainant=str(v.get("complainant") or ""),
            complainant_is_firm=v.get("complainant_kind") == "firm",
            product_type=ProductType(v["product_type"]) if v.get("product_type") else ProductType.OTHER,
            amount=float(v.get("amount_wan") or 0) * WAN,
            channel=Channel(v["channel"]) if v.get("channel") else Channel.MEDIATION,
            body_code=v.get("body") or "",
            received_on=v.get("received_on") or today,
            institution_id=inst.id if inst else None,
            respondent_name=str(v.get("respondent_name") or ""),
            district_code=areas.get(district) if district else None,
            accepted_on=v.get("accepted_on"),
            closed_on=v.get("closed_on"),
            outcome=Outcome(v["outcome"]) if v.get("outcome") else None,
            recovered=float(v["recovered_wan"]) * WAN if v.get("recovered_wan") is not None else None,
            summary=str(v.get("summary") or ""),
        )
        district_of = inst.district_code if inst else item.district_code
        if scope is not None and not scope.is_citywide and district_of and district_of != scope.district_code:
            table.errors.append(RowError(r.number, "被申请机构统一社会信用代码", "只能登记本区县的纠纷"))
        if uscc and inst is None:
            item.respondent_name = item.respondent_name or uscc  # the error above already stops the file
        table.errors.extend(
            e
            for e in service.check(session, item, today=today, row=r.number)
            if e.column != "被申请机构" or not uscc
        )
        items.append(item)
    table.reject_if_errors("纠纷文件")
    for item in items:
        service.register(session, item, actor=actor, scope=scope, today=today)
    return len(items)
