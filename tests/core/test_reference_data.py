"""Reference data in the database: areas, clusters and institution types."""

from __future__ import annotations

from sqlalchemy import select

from qiantang.filings.templates import all_templates
from qiantang.registry.models import Area, Cluster, InstitutionCategory, InstitutionType
from qiantang.registry.reference import sync_reference_data
from qiantang.standards.areas import CURRENT_CODES


def test_sync_is_idempotent(db):
    assert sync_reference_data(db) == 0


def test_sync_repairs_a_changed_row(db):
    area = db.get(Area, "330106")
    area.name_zh = "改错了"
    db.flush()
    assert sync_reference_data(db) == 1
    assert db.get(Area, "330106").name_zh == "西湖区"


def test_areas_current_and_historical(db):
    current = db.scalars(select(Area.code).where(Area.valid_to.is_(None))).all()
    assert sorted(current) == sorted(CURRENT_CODES) and len(current) == 13
    xiacheng = db.get(Area, "330103")
    assert xiacheng.valid_to is not None and xiacheng.successor_codes == ["330105"]


def test_clusters_lie_in_current_districts(db):
    clusters = db.scalars(select(Cluster)).all()
    groups = {c.group.value for c in clusters}
    assert groups == {"core", "belt", "town", "road", "zone", "county"}
    assert {c.name_zh for c in clusters if c.group.value == "town"} == {
        "玉皇山南基金小镇",
        "运河财富小镇",
        "西溪谷互联网金融小镇",
        "湘湖金融小镇",
        "黄公望金融小镇",
    }
    for c in clusters:
        assert c.area_codes and set(c.area_codes) <= set(CURRENT_CODES), c.code
        assert c.positioning


def test_institution_types_have_supervisors_and_templates(db):
    types = db.scalars(select(InstitutionType)).all()
    templates = all_templates()
    local = [t for t in types if t.category == InstitutionCategory.LOCAL]
    assert {
        "small_loan",
        "financing_guarantee",
        "pawnshop",
        "finance_leasing",
        "commercial_factoring",
        "regional_equity",
        "local_exchange",
        "local_amc",
        "p2p_lending",
    } <= {t.code for t in local}
    for t in types:
        assert t.supervisor_zh and t.supervisor_en
        if t.filing_template:
            assert t.filing_template in templates
            assert t.code in templates[t.filing_template].institution_types
