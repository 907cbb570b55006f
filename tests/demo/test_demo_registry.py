"""Institutions and enterprises of the tiny city: codes, places, names, status histories."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

import numpy as np

from qiantang.demo.names import BLOCKED_PAIRS
from qiantang.registry.reference import cluster_rows, institution_type_rows
from qiantang.standards.areas import CURRENT_CODES, LINAN_DISTRICT_FROM, REDIVISION_2021
from qiantang.standards.industry import section_of
from qiantang.standards.sme_size import classify_size, sector_for_industry
from qiantang.standards.uscc import is_valid_uscc

REAL_NAMES = (
    "工商银行",
    "杭州银行",
    "蚂蚁",
    "网商银行",
    "招商银行",
    "浙商银行",
    "平安",
    "支付宝",
    "阿里巴巴",
    "网易",
    "海康威视",
    "娃哈哈",
    "吉利",
    "华为",
)


def test_every_uscc_is_valid_and_unique_across_tables(tiny_city):
    codes = list(tiny_city.tables["institutions"]["uscc"]) + list(tiny_city.tables["enterprises"]["uscc"])
    assert all(is_valid_uscc(str(c)) for c in codes)
    assert len(set(codes)) == len(codes)
    assert all(str(c)[:2] == "91" for c in codes)  # 工商 registration, 企业


def test_uscc_area_is_the_registering_authority_at_issuance(tiny_city):
    ent = tiny_city.tables["enterprises"]
    area = np.array([str(c)[2:8] for c in ent["uscc"]])
    district = ent["district_code"].astype(str)
    founded = ent["founded_on"]
    after_redivision = founded >= np.datetime64(REDIVISION_2021)
    for old in ("330103", "330104"):
        assert not np.any((area == old) & after_redivision)
        assert np.any(area == old)
    assert set(district[area == "330103"]) <= {"330105"}
    assert set(district[area == "330104"]) <= {"330102", "330114"}
    assert set(district[area == "330185"]) == {"330112"}
    assert not np.any((area == "330185") & (founded >= np.datetime64(LINAN_DISTRICT_FROM)))
    # 临平 firms from before the re-division carry 余杭's code (or a city/provincial one).
    linping_old = (district == "330113") & ~after_redivision
    assert set(area[linping_old]) <= {"330110", "330100", "330000"}
    # A district-level code is always the firm's own district or the one it was carved from.
    parents = {"330103": "330105", "330104": "330102", "330185": "330112"}
    for a, d in zip(area.tolist(), district.tolist(), strict=True):
        if a not in ("330100", "330000", "330103", "330104", "330185") and d not in ("330113", "330114"):
            assert a == d, (a, d)
        if a in parents and d != parents[a]:
            assert (a, d) == ("330104", "330114")


def test_districts_are_current_and_clusters_cover_them(tiny_city):
    areas = {r["code"]: set(r["area_codes"]) for r in cluster_rows()}
    inst = tiny_city.tables["institutions"]
    assert set(inst["district_code"]) <= set(CURRENT_CODES)
    assert set(tiny_city.tables["enterprises"]["district_code"]) <= set(CURRENT_CODES)
    clusters = [(d, c) for d, c in zip(inst["district_code"], inst["cluster_code"], strict=True) if c]
    assert clusters, "some institutions sit in a cluster"
    assert any(c is None for c in inst["cluster_code"]), "and some in none"
    for district, cluster in clusters:
        assert district in areas[cluster], (district, cluster)


def test_names_are_unique_and_fictional(tiny_city):
    for table in ("institutions", "enterprises"):
        names = [str(n) for n in tiny_city.tables[table]["name"]]
        assert len(set(names)) == len(names), table
        assert not [n for n in names if any(real in n for real in REAL_NAMES)]
    ent_names = [str(n) for n in tiny_city.tables["enterprises"]["name"]]
    assert all(n.endswith("公司") for n in ent_names)
    # Institution trade names never contain a pair that spells a real institution or brand.
    local = [
        str(n)
        for n, t in zip(
            tiny_city.tables["institutions"]["name"],
            tiny_city.tables["institutions"]["type_code"],
            strict=True,
        )
        if t in ("small_loan", "pawnshop", "p2p_lending", "private_fund_manager")
    ]
    places = {
        "杭州",
        "浙江",
        "西湖",
        "萧山",
        "余杭",
        "临安",
        "临平",
        "滨江",
        "富阳",
        "桐庐",
        "淳安",
        "建德",
        "上城",
        "拱墅",
        "钱塘",
        "股份",
    }
    assert not [n for n in local if any(p in n for p in set(BLOCKED_PAIRS) - places)]


def test_status_follows_the_history(tiny_city):
    inst = tiny_city.tables["institutions"]
    changes = tiny_city.tables["institution_status_changes"]
    history: dict[int, list] = defaultdict(list)
    for iid, when, event, after in zip(
        changes["institution_id"].tolist(),
        changes["effective_on"].tolist(),
        changes["event"].tolist(),
        changes["status_after"].tolist(),
        strict=True,
    ):
        history[iid].append((when, event, after))
    for k, iid in enumerate(inst["id"].tolist()):
        events = history[iid]
        established = inst["established_on"][k].astype(date)
        assert events[0] == (established, "established", "active")
        dates = [e[0] for e in events]
        assert dates == sorted(dates) and len(set(dates)) == len(dates), iid
        assert inst["status"][k] == events[-1][2]
        exits = [e for e in events if e[1] in ("deregistered", "revoked")]
        dereg = inst["deregistered_on"][k]
        if exits:
            assert len(exits) == 1 and exits[0] == events[-1]
            assert dereg.astype(date) == exits[0][0] and dereg >= inst["established_on"][k]
        else:
            assert np.isnat(dereg) and inst["status"][k] in ("active", "suspended", "resolving")
    assert set(changes["event"]) >= {"established", "deregistered", "suspended", "resolution"}
    assert all(r for r in changes["reason"])


def test_levels_are_realistic(tiny_city):
    inst = tiny_city.tables["institutions"]
    local = {r["code"] for r in institution_type_rows() if r["category"].value in ("local", "registered")}
    for t, level in zip(inst["type_code"], inst["level"], strict=True):
        if t in local:
            assert level == "hq", t
    levels = set(inst["level"])
    assert levels >= {"hq", "provincial_branch", "branch"}
    branch = inst["level"] != "hq"
    assert all(p for p in inst["parent_name"][branch])
    assert not inst["registered_capital"][branch].count()  # branches carry no registered capital


def test_enterprise_sizes_follow_the_2011_rule(tiny_city):
    ent = tiny_city.tables["enterprises"]
    sizes = Counter(ent["size_class"])
    assert sizes["micro"] + sizes["small"] > 0.85 * len(ent["id"])
    assert sizes["micro"] > sizes["small"] > sizes["medium"] > 0
    for k in range(0, len(ent["id"]), 97):
        code, section = str(ent["industry_code"][k]), str(ent["industry_section"][k])
        assert section_of(code).code == section
        sector_for_industry(code)  # precise enough for the size rule (raises if ambiguous)
        result = classify_size(
            code,
            employees=int(ent["employees"][k]),
            revenue_wan=ent["revenue"][k] / 1e4,
            assets_wan=ent["total_assets"][k] / 1e4,
        )
        assert result.size == ent["size_class"][k]
    assert 0.04 <= ent["high_tech"].mean() <= 0.12
    assert set(ent["financials_year"].tolist()) <= {2024, 2025}
    assert ent["founded_on"].min() >= np.datetime64("1990-01-01")
    assert ent["founded_on"].max() <= np.datetime64("2025-12-31")
    recent = (ent["founded_on"] >= np.datetime64("2015-01-01")).mean()
    assert recent > 0.5  # skewed recent


def test_listing_dates_and_founding(tiny_city):
    ent = tiny_city.tables["enterprises"]
    quoted = ent["listing_status"] != "unlisted"
    assert np.all(~np.isnat(ent["listed_on"][quoted]))
    assert np.all(np.isnat(ent["listed_on"][~quoted]))
    assert np.all(ent["founded_on"][quoted] < ent["listed_on"][quoted])
    listed = np.isin(ent["listing_status"], ("listed_domestic", "listed_overseas"))
    assert set(ent["size_class"][listed]) <= {"large", "medium"}
