"""Reference data shipped with the package (areas, clusters, institution types), kept in sync in the DB.

Run after every migration (``qiantang db upgrade``): rows are inserted or updated from the package's
data, so a new institution type or a corrected positioning text reaches existing databases.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

from sqlalchemy.orm import Session

from qiantang.db import upsert
from qiantang.registry.models import Area, Cluster, ClusterGroup, InstitutionCategory, InstitutionType
from qiantang.standards import areas as gbt2260


def _read_csv(name: str) -> list[dict[str, str]]:
    text = (resources.files("qiantang.registry") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def institution_type_rows() -> tuple[dict, ...]:
    rows = []
    for i, r in enumerate(_read_csv("institution_types.csv")):
        rows.append(
            {
                **r,
                "category": InstitutionCategory(r["category"]),
                "filing_template": r["filing_template"] or None,
                "counts_as_bsi": r["counts_as_bsi"] == "true",
                "sort_order": i,
            }
        )
    return tuple(rows)


@cache
def cluster_rows() -> tuple[dict, ...]:
    rows = []
    for i, r in enumerate(_read_csv("clusters.csv")):
        rows.append(
            {
                **r,
                "group": ClusterGroup(r["group"]),
                "area_codes": [c for c in r["area_codes"].split(";") if c],
                "sort_order": i,
            }
        )
    return tuple(rows)


def area_rows() -> list[dict]:
    rows = []
    for i, a in enumerate(gbt2260.AREAS):
        rows.append(
            {
                "code": a.code,
                "name_zh": a.name_zh,
                "name_en": a.name_en,
                "kind": a.kind,
                "parent_code": a.parent_code,
                "valid_from": a.valid_from,
                "valid_to": a.valid_to,
                "successor_codes": list(a.successor_codes),
                "note": a.note,
                "sort_order": i,
            }
        )
    return rows


def sync_reference_data(session: Session) -> int:
    """Insert or update areas, clusters and institution types; returns how many values changed."""
    changed = upsert(session, Area, "code", area_rows())
    changed += upsert(session, Cluster, "code", cluster_rows())
    changed += upsert(session, InstitutionType, "code", institution_type_rows())
    return changed
