"""Personal identifiers in an analyst's own table are refused as features unless the analyst insists."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from qiantang.credit.models import CreditModel
from qiantang.credit.pipeline import make_scorecard
from qiantang.credit.tabular import prepare
from qiantang.errors import ValidationFailed
from qiantang.masking import detect_personal_column
from qiantang.standards.personal_id import id_check_char, is_id_number, is_mobile
from tests.helpers import page_csrf_token


def _id_number(rng) -> str:
    birth = f"{rng.integers(1960, 2000)}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
    body = f"330106{birth}{rng.integers(0, 1000):03d}"
    return body + id_check_char(body)


def people(n: int = 300) -> pd.DataFrame:
    """A borrower table as an analyst might upload it, 手机号 made to predict the target."""
    rng = np.random.Generator(np.random.PCG64(11))
    bad = rng.random(n) < 0.3
    mobile = np.where(
        bad, rng.integers(13_900_000_000, 13_999_999_999, n), rng.integers(13_000_000_000, 13_899_999_999, n)
    )
    surnames, given = "王李张刘陈杨黄赵吴周", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
    return pd.DataFrame(
        {
            "身份证号": [_id_number(rng) for _ in range(n)],
            "姓名": [
                rng.choice(list(surnames)) + "".join(rng.choice(list(given), rng.integers(1, 3)))
                for _ in range(n)
            ],
            "手机号": mobile.astype(object),
            "收入": rng.lognormal(5, 1, n).round(1),
            "结果": np.where(bad, "坏", "好"),
        }
    )


def test_identifiers_are_recognised_by_content_and_header():
    assert is_id_number("11010519491231002X") and not is_id_number("110105194912310021")
    assert is_mobile(13914372096.0) and is_mobile("+86 139 1437 2096") and not is_mobile("12914372096")
    frame = people()
    assert detect_personal_column("a", frame["身份证号"]) == "id_number"
    assert detect_personal_column("b", frame["手机号"]) == "mobile"
    assert detect_personal_column("c", frame["姓名"]) == "person_name"
    assert detect_personal_column("联系电话", ["", None]) == "mobile"
    assert detect_personal_column("企业名称", ["杭州甲乙科技有限公司"] * 5) is None
    assert detect_personal_column("收入", frame["收入"]) is None


def test_personal_columns_are_refused_with_their_names():
    with pytest.raises(ValidationFailed) as info:
        prepare(people(), target="结果", bad="坏")
    assert {e.column for e in info.value.errors} == {"身份证号", "姓名", "手机号"}
    for column in ("「身份证号」", "「姓名」", "「手机号」", "仍然使用个人信息列"):
        assert column in info.value.summary


def test_insisting_uses_them_but_never_shows_their_cut_points():
    data = prepare(people(), target="结果", bad="坏", allow_personal=True)
    personal = {f.name: f.personal for f in data.features if f.personal}
    assert personal.get("手机号") == "mobile"
    model = make_scorecard().fit(data)
    rows = [r for r in model.bin_table() if r["feature"] == "手机号"]
    assert len(rows) >= 2
    labels = [r["bin"] for r in rows]
    assert all("个人信息" in label for label in labels[:-1]) and labels[-1] == "缺失/未知"
    assert not any(re.search(r"\d{3}", label) for label in labels)  # no cut point such as 13,914,372,096
    income = [r["bin"] for r in model.bin_table() if r["feature"] == "收入"]
    assert any(re.search(r"\d", label) for label in income[:-1])  # ordinary columns keep their cut points
    again = type(model).from_spec(model.to_spec())
    phone = next(b for b in again.bins if b.name == "手机号")
    assert phone.personal and "个人信息" in phone.labels()[0]


def test_upload_page_refuses_then_accepts_with_the_box_ticked(clients, db, run_jobs):
    c = clients.as_user("analyst")
    token = page_csrf_token(c.get("/credit/upload").text)
    content = people().to_csv(index=False).encode("utf-8")
    form = {"csrf_token": token, "target": "结果", "bad": "坏", "mode": "quick"}
    r = c.post("/credit/upload", data=form, files={"file": ("borrowers.csv", content, "text/csv")})
    assert r.status_code == 422 and "个人身份信息" in r.text and "手机号" in r.text
    r = c.post(
        "/credit/upload",
        data={**form, "allow_personal": "1", "register": "1", "name": "个人信息测试"},
        files={"file": ("borrowers.csv", content, "text/csv")},
        follow_redirects=False,
    )
    # Accepted: checked at once, then cross-validated and registered by a background job.
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/"), r.text[:1000]
    assert run_jobs("credit.cv") == [int(r.headers["location"].rsplit("/", 1)[1])]
    row = db.scalar(select(CreditModel).where(CreditModel.name == "个人信息测试"))
    page = c.get(f"/credit/models/{row.id}")
    assert page.status_code == 200
    assert "个人信息，不显示切分点" in page.text
    assert "13,9" not in page.text and "139" not in page.text.split('data-testid="bins-手机号"')[-1][:4000]


def test_cli_refuses_without_the_flag(tmp_path):
    from qiantang.cli import app

    path = tmp_path / "borrowers.csv"
    people().to_csv(path, index=False)
    runner = CliRunner()
    refused = runner.invoke(
        app, ["credit", "cv", str(path), "--target", "结果", "--bad", "坏", "--folds", "2"]
    )
    assert refused.exit_code == 1 and "手机号" in refused.output
