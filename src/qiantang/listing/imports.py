"""The reserve by Excel/CSV: one row per firm with the date of each stage, checked whole."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from qiantang.enterprises.models import Enterprise
from qiantang.errors import RowError
from qiantang.listing import service
from qiantang.listing.models import MAIN_PATH, Board, ReserveFirm, Stage
from qiantang.standards.uscc import check_uscc
from qiantang.uploads import Column, duplicate_errors, parse_table, template_xlsx

BOARDS = {b.zh: b for b in Board} | {b.value: b for b in Board}
STAGE_COLUMNS = {
    Stage.ENROLLED: "入库日期",
    Stage.REFORMED: "股改完成日期",
    Stage.TUTORING: "辅导备案日期",
    Stage.ACCEPTED: "申报受理日期",
    Stage.REVIEW: "审核/注册日期",
    Stage.LISTED: "上市日期",
    Stage.NEEQ: "新三板挂牌日期",
    Stage.REGIONAL: "区域股权市场挂牌日期",
    Stage.WITHDRAWN: "退出日期",
}
COLUMNS = (
    Column("uscc", "统一社会信用代码", "USCC"),
    Column("board", "目标板块", "Target board", kind="choice", choices=BOARDS, required=False),
    Column("sponsor", "保荐机构", "Sponsor", required=False),
    *(
        Column(stage.value, header, f"{stage.en} date", kind="date", required=stage == Stage.ENROLLED)
        for stage, header in STAGE_COLUMNS.items()
    ),
    Column("reason", "退出或退回原因", "Reason for leaving", required=False),
)


def template() -> bytes:
    return template_xlsx(
        COLUMNS,
        sheet_title="上市后备企业",
        notes=[
            "每行一家企业：已在平台登记的企业（统一社会信用代码），各阶段到达的日期，未到达的留空。",
            "主线各阶段日期须按顺序：入库 ≤ 股改 ≤ 辅导备案 ≤ 申报受理 ≤ 审核/注册 ≤ 上市。",
            "日期不得晚于今天。",
            "填写退出日期的须填写原因。已在库的企业：新的阶段日期会补登，与已登记日期不同的会报错。",
            "整个文件校验通过才会导入。",
        ],
    )


def import_reserve(
    session: Session, *, content: bytes, filename: str, actor, today: date | None = None
) -> int:
    """Validate the whole file, then enrol new firms and add the stages not yet recorded."""
    today = today or date.today()
    table = parse_table(content, filename, COLUMNS)
    codes = {}
    for r in table.rows:
        if r.values.get("uscc"):
            checked = check_uscc(r.values["uscc"])
            if checked.errors:
                table.errors.append(RowError(r.number, "统一社会信用代码", "；".join(checked.errors)))
            else:
                codes[r.number] = checked.code
    firms = {
        e.uscc: e
        for e in session.scalars(select(Enterprise).where(Enterprise.uscc.in_(set(codes.values())))).all()
    }
    existing = {
        f.enterprise.uscc: f
        for f in session.scalars(
            select(ReserveFirm)
            .join(Enterprise, Enterprise.id == ReserveFirm.enterprise_id)
            .where(Enterprise.uscc.in_(set(codes.values())))
            .options(selectinload(ReserveFirm.events))
        ).all()
    }
    table.errors.extend(
        duplicate_errors(table.rows, lambda r: (codes.get(r.number),), column="统一社会信用代码", what="企业")
    )
    for r in table.rows:
        v = r.values
        code = codes.get(r.number)
        if code and code not in firms:
            table.errors.append(RowError(r.number, "统一社会信用代码", f"未登记的企业 {code}"))
        previous: tuple[Stage, date] | None = None
        for stage in MAIN_PATH:
            day = v.get(stage.value)
            if day is None:
                continue
            if previous and day < previous[1]:
                table.errors.append(
                    RowError(
                        r.number,
                        STAGE_COLUMNS[stage],
                        f"{day.isoformat()} 早于{STAGE_COLUMNS[previous[0]]} {previous[1].isoformat()}",
                    )
                )
            previous = (stage, day)
        for stage, header in STAGE_COLUMNS.items():
            day = v.get(stage.value)
            if day is not None and day > today:
                table.errors.append(RowError(r.number, header, f"{day.isoformat()} 晚于今天"))
            enrolled = v.get("enrolled")
            if day is not None and stage not in MAIN_PATH and enrolled and day < enrolled:
                table.errors.append(RowError(r.number, header, "早于入库日期"))
        if v.get("withdrawn") and not (v.get("reason") or "").strip():
            table.errors.append(RowError(r.number, "退出或退回原因", "填写了退出日期，须填写原因"))
        if v.get("withdrawn") and v.get("listed"):
            table.errors.append(RowError(r.number, "退出日期", "已上市的企业不能同时退出培育库"))
        firm = existing.get(code or "")
        if firm is not None:
            known = {e.stage: e.on for e in firm.events}
            for stage, header in STAGE_COLUMNS.items():
                day = v.get(stage.value)
                if day is not None and stage in known and known[stage] != day:
                    table.errors.append(
                        RowError(r.number, header, f"与已登记的日期 {known[stage].isoformat()} 不同")
                    )
    table.reject_if_errors("上市后备企业文件")
    written = 0
    for r in table.rows:
        v = r.values
        ent = firms[codes[r.number]]
        firm = existing.get(ent.uscc)
        if firm is None:
            firm = service.enrol(
                session,
                enterprise=ent,
                on=v["enrolled"],
                board=v.get("board") or Board.UNDECIDED,
                sponsor=v.get("sponsor"),
                actor=actor,
            )
        elif v.get("board"):
            firm.target_board = v["board"]
        if v.get("sponsor"):
            firm.sponsor = v["sponsor"]
        known = {e.stage for e in firm.events}
        steps = sorted(
            ((day, stage) for stage in STAGE_COLUMNS if (day := v.get(stage.value)) and stage not in known),
            key=lambda t: (t[0], list(STAGE_COLUMNS).index(t[1])),
        )
        for day, stage in steps:
            service.record_stage(
                session, firm=firm, stage=stage, on=day, reason=v.get("reason"), actor=actor, today=today
            )
        written += 1
    return written
