"""Personal data is masked by role, from one policy, in templates, the API and exports."""

from __future__ import annotations

import pytest

from qiantang import masking
from qiantang.auth.models import Role
from qiantang.auth.schemas import UserOut
from qiantang.masking import load_policy, mask_text, mask_value

ID = "11010519491231002X"
MOBILE = "13914372096"


@pytest.mark.parametrize(
    ("role", "mobile", "name"),
    [
        (Role.CITY_ADMIN, MOBILE, "张三丰"),
        (Role.DISTRICT_OFFICER, MOBILE, "张三丰"),
        (Role.CITY_ANALYST, "139****2096", "张**"),
        (Role.INSTITUTION_REPORTER, "139****2096", "张**"),
        (Role.AUDITOR, "139****2096", "张**"),
        (None, "139****2096", "张**"),
    ],
)
def test_each_role_sees_what_the_policy_allows(role, mobile, name):
    assert mask_value("mobile", MOBILE, role=role or "none") == mobile
    assert mask_value("person_name", "张三丰", role=role or "none") == name
    # An ID number is never shown in full, whatever the role; credentials never at all.
    assert mask_value("id_number", ID, role=role or "none") == "1****************X"
    assert mask_value("credential", "secret", role=role or "none") is None
    assert mask_value("bank_account", "6222021234567890123", role=role or "none") == "622202*********0123"


def test_mask_patterns_on_short_and_odd_values():
    assert mask_text("王五", 1, 0) == "王*"
    assert mask_text("李", 1, 0) == "*"
    assert mask_text("1234", 3, 4) == "1***"
    assert mask_value("mobile", 13914372096.0, role=Role.AUDITOR) == "139****2096"  # read from Excel
    assert mask_value("mobile", None, role=Role.AUDITOR) is None


def test_the_policy_is_checked_when_loaded():
    with pytest.raises(ValueError, match="none"):
        load_policy(
            '[fields.mobile]\nclass = "C2"\nlabel_zh = "手机"\nlabel_en = "m"\n'
            '[roles.auditor]\nmobile = "full"\n'
        )
    with pytest.raises(ValueError, match="取值"):
        load_policy(
            '[fields.mobile]\nclass = "C2"\nlabel_zh = "手机"\nlabel_en = "m"\n[roles.none]\nmobile = "all"\n'
        )
    table = {row["field"]: row for row in masking.policy_table()}
    assert table["id_number"]["city_admin"] == "masked" and table["credential"]["class"] == "C3"


def test_template_filter_and_api_serialiser_follow_the_current_role():
    from qiantang.web.templating import environment

    template = environment().from_string('{{ v | mask("mobile") }}')
    out = UserOut(
        id=1,
        username="zs",
        display_name="张三丰",
        role=Role.CITY_ANALYST,
        district_code=None,
        institution_id=None,
        is_active=True,
        last_login_at=None,
    )
    with masking.viewer_scope():
        masking.use_role(Role.AUDITOR)
        assert template.render(v=MOBILE) == "139****2096"
        assert out.model_dump()["display_name"] == "张**"
        masking.use_role(Role.CITY_ADMIN)
        assert template.render(v=MOBILE) == MOBILE
        assert out.model_dump_json().count("张三丰") == 1


def test_the_users_api_masks_names_by_the_requests_role(clients):
    admin = clients.as_user("admin")
    names = {u["username"]: u["display_name"] for u in admin.get("/api/v1/users").json()}
    assert "*" not in "".join(names.values())  # administrators manage accounts: full names


def test_a_filings_submitter_is_masked_for_analysts_and_shown_to_the_district(clients, db):
    from sqlalchemy import select

    from qiantang.auth.models import User
    from qiantang.filings.models import Filing

    reporter = db.scalar(select(User).where(User.username == "reporter"))
    filing = db.scalar(select(Filing).where(Filing.institution_id == reporter.institution_id).limit(1))
    filing.submitted_by = reporter.id
    db.commit()
    full = reporter.display_name
    district = clients.as_user("xihu").get(f"/filings/{filing.id}")  # the reporter's own district
    assert district.status_code == 200 and full in district.text
    analyst = clients.as_user("analyst").get(f"/filings/{filing.id}")
    assert analyst.status_code == 200 and full not in analyst.text
    assert full[0] + "*" * (len(full) - 1) in analyst.text
