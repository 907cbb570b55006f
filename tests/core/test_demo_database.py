"""What the issue asks of the demo database itself, checked in the database on both backends."""

from __future__ import annotations

from sqlalchemy import select

from qiantang.db import get_meta
from qiantang.enterprises.models import Enterprise
from qiantang.registry.models import Institution
from qiantang.standards.areas import CURRENT_CODES
from qiantang.standards.uscc import is_valid_uscc


def test_every_uscc_passes_gb32100(db):
    codes = db.scalars(select(Enterprise.uscc)).all() + db.scalars(select(Institution.uscc)).all()
    assert codes
    bad = [c for c in codes if not is_valid_uscc(c)]
    assert bad == []


def test_every_district_code_is_a_current_hangzhou_code(db):
    used = set(db.scalars(select(Enterprise.district_code).distinct()).all())
    used |= set(db.scalars(select(Institution.district_code).distinct()).all())
    assert used and used <= set(CURRENT_CODES)


def test_demo_is_marked_as_such(db):
    assert get_meta(db, "demo_scale") == "tiny"
