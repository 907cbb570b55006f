"""Where things are: district weights, cluster placement and the area code inside a USCC."""

from __future__ import annotations

import numpy as np

from qiantang.registry.reference import cluster_rows
from qiantang.standards.areas import CURRENT_CODES, LINAN_DISTRICT_FROM, REDIVISION_2021, get_area

DISTRICTS: tuple[str, ...] = CURRENT_CODES  # 13 current codes, in code order
DISTRICT_NAME = {c: get_area(c).name_zh for c in DISTRICTS}
DISTRICT_SHORT = {
    c: get_area(c).name_zh[:-1] if len(get_area(c).name_zh) == 3 else get_area(c).name_zh for c in DISTRICTS
}
COUNTIES = ("330122", "330127", "330182")  # 桐庐县, 淳安县, 建德市
XIHU = "330106"

CLUSTERS: dict[str, tuple[str, ...]] = {r["code"]: tuple(r["area_codes"]) for r in cluster_rows()}
COUNTY_CLUSTER = {
    "330122": "county_tonglu",
    "330112": "county_linan",
    "330182": "county_jiande",
    "330127": "county_chunan",
}

# Share of enterprises by current district (余杭/萧山/西湖/滨江/上城/拱墅/临平/钱塘 heavy).
ENTERPRISE_DISTRICT_WEIGHTS: dict[str, float] = {
    "330102": 10.0,
    "330105": 10.0,
    "330106": 11.0,
    "330108": 8.0,
    "330109": 14.0,
    "330110": 16.0,
    "330111": 6.0,
    "330112": 4.0,
    "330113": 7.0,
    "330114": 6.0,
    "330122": 3.0,
    "330127": 2.5,
    "330182": 2.5,
}

_URBAN = {
    "330102": 0.25,
    "330105": 0.2,
    "330106": 0.2,
    "330108": 0.12,
    "330109": 0.1,
    "330110": 0.08,
    "330113": 0.03,
    "330114": 0.02,
}
_ALL = {
    "330102": 0.14,
    "330105": 0.1,
    "330106": 0.1,
    "330108": 0.07,
    "330109": 0.12,
    "330110": 0.1,
    "330113": 0.06,
    "330114": 0.05,
    "330111": 0.07,
    "330112": 0.05,
    "330122": 0.05,
    "330127": 0.045,
    "330182": 0.045,
}

# Placement profiles: (cluster weights incl. None, district weights when no cluster, county-cluster share).
PROFILES: dict[str, tuple[dict[str | None, float], dict[str, float], float]] = {
    "bsi_high": (
        {
            # The core was still filling up in 2015: the plan aims to attract 50+ such HQs there by 2020.
            "core_qjxc": 0.17,
            "core_qjsjc": 0.05,
            "road_yanan_qingchun": 0.25,
            "zone_huanglong": 0.15,
            None: 0.38,
        },
        {"330102": 0.45, "330105": 0.2, "330106": 0.2, "330108": 0.08, "330109": 0.07},
        0.0,
    ),
    "bsi_branch": (
        {
            "road_yanan_qingchun": 0.18,
            "zone_shenhua": 0.05,
            "zone_huanglong": 0.08,
            "core_qjxc": 0.1,
            None: 0.59,
        },
        _ALL,
        0.5,
    ),
    "pfm": (
        {
            "town_yuhuangshan": 0.24,
            "town_xianghu": 0.1,
            "town_huanggongwang": 0.07,
            "town_xixigu": 0.07,
            "zone_dream_town": 0.05,
            "belt_pe_corridor": 0.05,
            "zone_binjiang": 0.03,
            "core_qjsjc": 0.03,
            None: 0.36,
        },
        {
            "330102": 0.25,
            "330106": 0.2,
            "330108": 0.12,
            "330105": 0.1,
            "330110": 0.1,
            "330109": 0.08,
            "330113": 0.03,
            "330114": 0.03,
            "330111": 0.04,
            "330112": 0.02,
            "330122": 0.01,
            "330127": 0.01,
            "330182": 0.01,
        },
        0.3,
    ),
    "local": ({"core_qjsjc": 0.1, "town_canal": 0.06, None: 0.84}, _ALL, 0.4),
    "leasing": (
        {"core_qjsjc": 0.18, "town_canal": 0.08, "core_qjxc": 0.06, None: 0.68},
        {
            "330102": 0.25,
            "330109": 0.15,
            "330108": 0.12,
            "330106": 0.1,
            "330105": 0.1,
            "330110": 0.1,
            "330114": 0.08,
            "330113": 0.04,
            "330111": 0.03,
            "330112": 0.02,
            "330122": 0.01,
        },
        0.3,
    ),
    "online": (
        {
            "town_xixigu": 0.22,
            "belt_bigdata": 0.1,
            "zone_binjiang": 0.12,
            "zone_dream_town": 0.05,
            None: 0.51,
        },
        {
            "330106": 0.25,
            "330108": 0.2,
            "330102": 0.2,
            "330110": 0.15,
            "330105": 0.1,
            "330109": 0.05,
            "330113": 0.05,
        },
        0.0,
    ),
    "market": ({"core_qjxc": 0.5, "town_canal": 0.15, "core_qjsjc": 0.1, None: 0.25}, _URBAN, 0.0),
    "investment": (
        {"town_huanggongwang": 0.3, "town_xianghu": 0.2, "core_qjsjc": 0.2, None: 0.3},
        _URBAN,
        0.0,
    ),
}


def place(rng: np.random.Generator, profile: str) -> tuple[str, str | None]:
    """(district, cluster) for one institution of a placement profile; the cluster covers the district."""
    clusters, districts, county_share = PROFILES[profile]
    keys = list(clusters)
    weights = np.array([clusters[k] for k in keys])
    cluster = keys[int(rng.choice(len(keys), p=weights / weights.sum()))]
    if cluster is not None:
        areas = CLUSTERS[cluster]
        return areas[int(rng.integers(len(areas)))], cluster
    codes = list(districts)
    w = np.array([districts[c] for c in codes])
    district = codes[int(rng.choice(len(codes), p=w / w.sum()))]
    if district in COUNTY_CLUSTER and rng.random() < county_share:
        return district, COUNTY_CLUSTER[district]
    return district, None


def issuing_areas(rng: np.random.Generator, districts: np.ndarray, issued: np.ndarray) -> np.ndarray:
    """The registering authority's area code (USCC positions 3–8) at issuance, per current district.

    Codes issued before the 2021 re-division carry the old units: part of today's 拱墅 → 330103 (下城),
    part of today's 上城 and 钱塘 → 330104 (江干), the rest of 钱塘 → 330109 (萧山), all of 临平 → 330110
    (余杭); 临安 before 2017-08-18 → 330185 (临安市).
    """
    districts = np.asarray(districts).astype("<U6")
    out = districts.copy()
    u = rng.random(len(districts))
    before = np.asarray(issued) < np.datetime64(REDIVISION_2021, "D")
    out[before & (districts == "330105") & (u < 0.5)] = "330103"
    out[before & (districts == "330102") & (u < 0.55)] = "330104"
    qt = before & (districts == "330114")
    out[qt & (u < 0.6)] = "330104"
    out[qt & (u >= 0.6)] = "330109"
    out[before & (districts == "330113")] = "330110"
    out[(np.asarray(issued) < np.datetime64(LINAN_DISTRICT_FROM, "D")) & (districts == "330112")] = "330185"
    return out
