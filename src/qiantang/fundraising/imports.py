"""Imports of the monitoring data (CSV / Excel), each file validated whole before anything is stored.

One kind of record per file (``KINDS``); firms are found by their USCC in the enterprise register.
Amounts are given in 万元 and stored in 元. People's ID numbers are never stored: a keyed hash
(HMAC-SHA256 with this installation's key, kept in system_meta) links the same person across firms,
and only the masked form (first and last character) is kept for display.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from qiantang.db import get_meta, set_meta
from qiantang.enterprises.models import Enterprise
from qiantang.errors import RowError, ValidationFailed
from qiantang.fundraising.models import (
    ChangeKind,
    Complaint,
    DishonestDebtor,
    FirmPerson,
    FirmProfile,
    FirmText,
    FundAnomaly,
    PersonRole,
    RegistrationChange,
    SpreadObservation,
)
from qiantang.masking import mask_text

WAN = 10_000.0
_KEY_META = "fundraising_person_key"


@dataclass(frozen=True)
class Column:
    name: str
    zh: str
    kind: str  # text | date | number | int | uscc | enum
    required: bool = True


@dataclass(frozen=True)
class Kind:
    zh: str
    model: Any
    columns: tuple[Column, ...]


U = Column("uscc", "统一社会信用代码", "uscc")
KINDS: dict[str, Kind] = {
    "profiles": Kind(
        "企业登记补充信息",
        FirmProfile,
        (
            U,
            Column("business_scope", "经营范围", "text"),
            Column("paid_in_capital", "实缴资本（万元）", "number", False),
            Column("address", "注册地址", "text", False),
            Column("phone", "联系电话", "text", False),
        ),
    ),
    "changes": Kind(
        "工商变更记录",
        RegistrationChange,
        (
            U,
            Column("kind", "变更事项", "enum"),
            Column("changed_on", "变更日期", "date"),
            Column("before", "变更前", "text", False),
            Column("after", "变更后", "text", False),
        ),
    ),
    "people": Kind(
        "股东及法定代表人",
        FirmPerson,
        (
            U,
            Column("name", "姓名", "text"),
            Column("id_number", "证件号码", "text"),
            Column("role", "身份", "enum"),
            Column("share", "持股比例", "number", False),
            Column("since", "任职日期", "date", False),
            Column("until", "离任日期", "date", False),
        ),
    ),
    "texts": Kind(
        "广告及网络文本",
        FirmText,
        (
            Column("uscc", "统一社会信用代码", "uscc", False),
            Column("firm_name", "企业名称", "text", False),
            Column("source", "来源", "text"),
            Column("url", "网址", "text", False),
            Column("published_on", "发布日期", "date"),
            Column("text", "文本", "text"),
        ),
    ),
    "spread": Kind(
        "涉众情况",
        SpreadObservation,
        (
            U,
            Column("observed_on", "观测日期", "date"),
            Column("investors", "投资人数", "int"),
            Column("amount_raised", "吸收资金（万元）", "number", False),
            Column("realised_return", "实际兑付年化收益率（%）", "number", False),
            Column("districts", "涉及区县数", "int", False),
            Column("provinces", "涉及省份数", "int", False),
        ),
    ),
    "complaints": Kind(
        "投诉",
        Complaint,
        (
            U,
            Column("received_on", "收到日期", "date"),
            Column("channel", "渠道", "text", False),
            Column("amount", "涉及金额（万元）", "number", False),
            Column("summary", "摘要", "text", False),
        ),
    ),
    "dishonest": Kind(
        "失信被执行人",
        DishonestDebtor,
        (
            Column("uscc", "统一社会信用代码", "uscc", False),
            Column("id_number", "证件号码", "text", False),
            Column("name", "名称或姓名", "text"),
            Column("case_no", "案号", "text", False),
            Column("court", "执行法院", "text", False),
            Column("listed_on", "列入日期", "date"),
            Column("removed_on", "移出日期", "date", False),
        ),
    ),
    "funds": Kind(
        "资金异常报告",
        FundAnomaly,
        (
            U,
            Column("reported_on", "报告日期", "date"),
            Column("bank", "报告银行", "text", False),
            Column("kind", "异常类型", "text"),
            Column("amount", "金额（万元）", "number", False),
            Column("note", "说明", "text", False),
        ),
    ),
}
CHANGE_WORDS = {
    "住所": ChangeKind.ADDRESS,
    "地址": ChangeKind.ADDRESS,
    "注册资本": ChangeKind.CAPITAL,
    "名称": ChangeKind.NAME,
    "经营范围": ChangeKind.SCOPE,
    "法定代表人": ChangeKind.LEGAL_REP,
    "股东": ChangeKind.SHAREHOLDERS,
}
ROLE_WORDS = {
    "法定代表人": PersonRole.LEGAL_REP,
    "股东": PersonRole.SHAREHOLDER,
    "高管": PersonRole.EXECUTIVE,
}


def person_key(session: Session, id_number: str) -> str:
    """HMAC-SHA256 of the normalised ID number with this installation's key (made on first use)."""
    secret = get_meta(session, _KEY_META)
    if secret is None:
        secret = secrets.token_hex(32)
        set_meta(session, _KEY_META, secret)
        session.flush()
    norm = id_number.strip().upper()
    return hmac.new(bytes.fromhex(secret), norm.encode(), hashlib.sha256).hexdigest()


def _enum(kind_name: str, col: str, value: str):
    v = value.strip()
    if kind_name == "changes":
        try:
            return ChangeKind(v)
        except ValueError:
            for word, k in CHANGE_WORDS.items():
                if word in v:
                    return k
    if kind_name == "people":
        try:
            return PersonRole(v)
        except ValueError:
            if v in ROLE_WORDS:
                return ROLE_WORDS[v]
    raise ValueError(v)


def _headers(table: pd.DataFrame, kind: Kind) -> dict[str, str]:
    """Table column → field name; headers may be the field names or their Chinese labels."""
    out = {}
    for c in table.columns:
        key = str(c).strip()
        for col in kind.columns:
            if key in (col.name, col.zh):
                out[c] = col.name
    return out


def import_table(
    session: Session,
    kind_name: str,
    table: pd.DataFrame,
    *,
    today: date | None = None,
    row_numbers: Sequence[int] | None = None,
) -> int:
    """Check every row; store all of them, or none (``ValidationFailed`` lists every problem).

    ``row_numbers``: each row's number as the spreadsheet shows it (default: 2, 3, … — no blank rows).
    """
    if kind_name not in KINDS:
        raise ValidationFailed(f"未知的数据类型 {kind_name}；可选 {'、'.join(KINDS)}")
    kind = KINDS[kind_name]
    today = today or date.today()
    table = table.rename(columns=_headers(table, kind))
    errors: list[RowError] = []
    for col in kind.columns:
        if col.required and col.name not in table:
            errors.append(RowError(None, col.zh, f"缺少必填列“{col.zh}”（{col.name}）"))
    if errors:
        raise ValidationFailed(f"{kind.zh}：表头不完整", errors)
    usccs = {str(v).strip().upper() for v in table.get("uscc", pd.Series(dtype=str)).dropna()}
    firms = dict(
        session.execute(select(Enterprise.uscc, Enterprise.id).where(Enterprise.uscc.in_(usccs))).all()
    )
    rows: list[dict[str, Any]] = []
    records = table.to_dict("records")
    numbers = list(row_numbers) if row_numbers is not None else list(range(2, len(records) + 2))
    for i, raw in zip(numbers, records, strict=True):
        row: dict[str, Any] = {}
        bad = False
        failed: set[str] = set()

        def fail(col: Column, message: str, i: int = i, failed: set[str] = failed) -> None:
            nonlocal bad
            bad = True
            failed.add(col.name)
            errors.append(RowError(i, col.zh, message))

        for col in kind.columns:
            v = raw.get(col.name)
            empty = v is None or (isinstance(v, float) and pd.isna(v)) or str(v).strip() == ""
            if empty:
                if col.required:
                    fail(col, f"“{col.zh}”不能为空")
                row[col.name] = None
                continue
            try:
                row[col.name] = _parse(kind_name, col, v, today)
            except ValueError as exc:
                fail(col, str(exc) or f"“{col.zh}”的值“{v}”无法识别")
        # Checks across cells run whatever else failed, so that one pass lists every problem of the row.
        for first, then in (("listed_on", "removed_on"), ("since", "until")):
            if row.get(first) and row.get(then) and row[then] < row[first]:
                col = next(c for c in kind.columns if c.name == then)
                other = next(c for c in kind.columns if c.name == first)
                fail(col, f"“{col.zh}”{row[then]} 早于“{other.zh}”{row[first]}")
        if kind_name == "people" and row.get("share") is not None and row["share"] > 100:
            fail(
                next(c for c in kind.columns if c.name == "share"),
                f"持股比例应在 0–100% 之间，而不是 {row['share']:g}",
            )
        uscc = row.pop("uscc", None)
        if uscc is not None:
            if uscc not in firms:
                fail(U, f"企业库中没有统一社会信用代码为 {uscc} 的企业")
            else:
                row["enterprise_id"] = firms[uscc]
        elif kind_name == "dishonest" and not row.get("id_number") and not failed & {"uscc", "id_number"}:
            fail(U, "企业须填写统一社会信用代码，个人须填写证件号码")
        elif kind_name == "texts":
            row["enterprise_id"] = None
        if bad:
            continue
        if kind_name == "dishonest":
            row["uscc"] = uscc
        rows.append(_finish(session, kind_name, row))
    if errors:
        raise ValidationFailed(f"{kind.zh}：{len(errors)} 处错误，未导入任何数据", errors)
    if kind_name == "profiles":  # one row per firm: replace what was there
        ids = [r["enterprise_id"] for r in rows]
        session.query(FirmProfile).filter(FirmProfile.enterprise_id.in_(ids)).delete(
            synchronize_session=False
        )
    for k in range(0, len(rows), 5000):
        session.execute(insert(kind.model), rows[k : k + 5000])
    session.flush()
    return len(rows)


def _parse(kind_name: str, col: Column, v: Any, today: date) -> Any:
    if col.kind == "uscc":
        s = str(v).strip().upper()
        if len(s) != 18:
            raise ValueError(f"统一社会信用代码“{s}”应为 18 位")
        return s
    if col.kind == "date":
        d = pd.to_datetime(v, errors="coerce")
        if pd.isna(d):
            raise ValueError(f"“{col.zh}”的日期“{v}”无法识别")
        d = d.date()
        if d > today:
            raise ValueError(f"“{col.zh}”{d} 晚于今天")
        return d
    if col.kind in ("number", "int"):
        x = pd.to_numeric(str(v).replace(",", "").replace("，", ""), errors="coerce")
        if pd.isna(x) or x < 0:
            raise ValueError(f"“{col.zh}”应为非负数，而不是“{v}”")
        if col.kind == "int":
            return int(x)
        return float(x) * WAN if "万元" in col.zh else float(x)
    if col.kind == "enum":
        try:
            return _enum(kind_name, col.name, str(v))
        except ValueError:
            raise ValueError(f"“{col.zh}”的值“{v}”无法识别") from None
    return str(v).strip()


def _finish(session: Session, kind_name: str, row: dict) -> dict:
    if kind_name == "people":
        idn = row.pop("id_number")
        row["person_key"] = person_key(session, idn)
        row["id_masked"] = mask_text(idn.strip(), 1, 1)
        if row.get("share") is not None and row["share"] > 1:
            row["share"] = row["share"] / 100.0  # given in %
    if kind_name == "dishonest":
        idn = row.pop("id_number", None)
        row["person_key"] = person_key(session, idn) if idn else None
    for k in ("before", "after", "business_scope", "summary", "note", "channel", "bank", "url", "firm_name"):
        if k in row and row[k] is None:
            row[k] = ""
    if kind_name == "profiles":
        row["source"] = "import"
    if kind_name in ("changes", "spread"):
        row["source"] = "import"
    if kind_name == "spread":
        row["districts"] = row.get("districts") or 1
        row["provinces"] = row.get("provinces") or 1
    return row


# --- uploads (web page, job) and the JSON API ------------------------------------------------------
# Above this size an uploaded file is checked and stored by the job worker (the page shows its progress).
LARGE_BYTES = 1024 * 1024
OBJECT_TYPE = "fundraising_data"


def kind_of(kind_name: str) -> Kind:
    if kind_name not in KINDS:
        raise ValidationFailed(f"未知的数据类型 {kind_name}；可选 {'、'.join(KINDS)}")
    return KINDS[kind_name]


def _upload_columns(kind: Kind):
    from qiantang.uploads import Column as UploadColumn

    return [
        UploadColumn(c.name, c.zh, c.name, required=c.required, help_zh=_HELP.get(c.kind, c.zh))
        for c in kind.columns
    ]


_HELP = {
    "uscc": "18 位统一社会信用代码，企业须已在企业库登记",
    "date": "日期，格式 YYYY-MM-DD，不得晚于今天",
    "number": "非负数",
    "int": "非负整数",
}
_NOTES = {
    "profiles": "每家企业一行；再次导入同一企业将替换原有补充信息。",
    "changes": "变更事项填：住所、注册资本、名称、经营范围、法定代表人或股东。",
    "people": (
        "身份填：法定代表人、股东或高管。证件号码只用于在企业间识别同一人：平台保存其加密摘要与脱敏形式，"
        "不保存号码本身。持股比例可填 0–1 的小数或百分数。"
    ),
    "texts": "可不填统一社会信用代码（未关联企业的文本按企业名称保存）。",
    "dishonest": "企业填写统一社会信用代码，个人填写证件号码（只保存加密摘要）；移出日期不得早于列入日期。",
}


def template(kind_name: str) -> bytes:
    """The Excel template of one kind: its columns (Chinese headers, each explained), and notes."""
    from qiantang.uploads import template_xlsx

    kind = kind_of(kind_name)
    notes = [
        f"{kind.zh}导入模板。表头可用中文列名或英文字段名；整个文件校验通过才会导入，任何一处错误都不导入任何数据。",
        "金额单位为万元。",
    ]
    if kind_name in _NOTES:
        notes.append(_NOTES[kind_name])
    return template_xlsx(_upload_columns(kind), sheet_title=kind.zh, notes=notes)


def read_upload(content: bytes, filename: str, kind_name: str) -> tuple[pd.DataFrame, list[int]]:
    """The file's rows (bounded in size and shape, ``uploads.read_raw``) as a table of text cells,
    with each row's spreadsheet number; an unknown or repeated header refuses the file."""
    from qiantang.uploads import read_raw

    kind = kind_of(kind_name)
    header, raw = read_raw(content, filename)
    known = {c.name for c in kind.columns} | {c.zh for c in kind.columns}
    errors = []
    for i, h in enumerate(header):
        if h and h not in known:
            errors.append(RowError(1, h, f"无法识别的列「{h}」（第 {i + 1} 列）；请使用模板中的列名"))
    seen = [h for h in header if h]
    for h in sorted({h for h in seen if seen.count(h) > 1}):
        errors.append(RowError(1, h, f"列「{h}」重复"))
    if errors:
        raise ValidationFailed(f"{kind.zh}：表头有误，未导入任何数据", errors)
    width = len(header)
    rows, numbers = [], []
    for offset, values in enumerate(raw):
        if not any(v is not None and str(v).strip() for v in values):
            continue
        cells = list(values[:width]) + [None] * (width - len(values))
        rows.append([_cell(v) for v in cells])
        numbers.append(offset + 2)
    if not rows:
        raise ValidationFailed(f"{kind.zh}：文件中没有数据行", [])
    return pd.DataFrame(rows, columns=[h or f"_{i}" for i, h in enumerate(header)], dtype=object), numbers


def _cell(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if hasattr(v, "date") and callable(v.date):  # an Excel datetime
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def import_upload(
    session: Session, *, kind_name: str, content: bytes, filename: str, actor, today: date | None = None
) -> int:
    """Check an uploaded file whole and store it in the caller's transaction; audited."""
    table, numbers = read_upload(content, filename, kind_name)
    stored = import_table(session, kind_name, table, today=today, row_numbers=numbers)
    _audit(session, actor, kind_name, stored, {"file": filename})
    return stored


def import_records(
    session: Session, *, kind_name: str, records: list[dict[str, Any]], actor, today: date | None = None
) -> int:
    """The JSON API's rows (keys: the field names or the Chinese headers), checked like a file; audited."""
    from qiantang.uploads import Limits

    kind = kind_of(kind_name)
    limit = Limits.from_settings().max_rows
    if len(records) > limit:
        raise ValidationFailed(f"{kind.zh}：一次最多提交 {limit:,} 行，请分批提交", [])
    if not records:
        raise ValidationFailed(f"{kind.zh}：没有数据行", [])
    known = {c.name for c in kind.columns} | {c.zh for c in kind.columns}
    errors = [
        RowError(i, str(k), f"无法识别的字段「{k}」")
        for i, r in enumerate(records, start=1)
        for k in r
        if k not in known
    ]
    if errors:
        raise ValidationFailed(f"{kind.zh}：{len(errors)} 处错误，未导入任何数据", errors)
    table = pd.DataFrame.from_records(records, columns=sorted({k for r in records for k in r}))
    stored = import_table(
        session, kind_name, table.astype(object), today=today, row_numbers=range(1, len(records) + 1)
    )
    _audit(session, actor, kind_name, stored, {"via": "api"})
    return stored


def _audit(session: Session, actor, kind_name: str, stored: int, detail: dict) -> None:
    from qiantang.audit import service as audit

    audit.record(
        session,
        action="upload",
        user=actor,
        object_type=OBJECT_TYPE,
        object_id=kind_name,
        detail={"kind": kind_name, "rows": stored, **detail},
    )
