"""Alerts: one per institution and family while open, updated (not duplicated) by later quarters,
cleared when a judged quarter has no signal, ids kept across recomputations and for cases."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import select

from qiantang.earlywarning import alerts, rules
from qiantang.earlywarning.models import Alert, AlertStatus, Level
from qiantang.earlywarning.panel import panel_from_records, pq_of
from qiantang.registry.models import Institution

Q = [date(2023, 3, 31), date(2023, 6, 30), date(2023, 9, 30), date(2023, 12, 31), date(2024, 3, 31)]


def panel_for(inst_id: int, filed: list[date], *, until: date, deregistered_on: date | None = None):
    """One small-loan company expected to file every quarter from Q[0] to ``until``; ``filed`` lists
    the quarters it did file (the others are missing)."""
    filings = [{"institution_id": inst_id, "period_end": d, "data": {"equity": 100.0}} for d in filed]
    # The panel's last quarter is the latest quarter anyone filed: a peer files up to ``until``.
    filings.append({"institution_id": inst_id + 1, "period_end": until, "data": {"equity": 100.0}})
    insts = [
        {
            "id": inst_id,
            "template": "small_loan",
            "established_on": date(2015, 1, 1),
            "deregistered_on": deregistered_on,
        },
        {"id": inst_id + 1, "template": "small_loan", "established_on": date(2023, 1, 1)},
    ]
    return panel_from_records(insts, filings)


def signal(
    inst_id: int, day: date, level: str, *, family: str = "limit", code: str = "SL-SINGLE-2020"
) -> dict:
    return {
        "row": 0,
        "institution_id": inst_id,
        "pq": pq_of(day),
        "family": family,
        "code": code,
        "level": level,
        "value": 12.0,
        "threshold": 10.0,
        "message_zh": f"{day} {level}",
        "message_en": f"{day} {level}",
        "evidence": {"day": day.isoformat()},
        "kind": "concentration",
        "usage": 1.2,
    }


def frame(*sigs: dict) -> pd.DataFrame:
    return pd.DataFrame(list(sigs), columns=rules.SIGNAL_COLUMNS)


def two_institutions(db) -> tuple[int, int]:
    ids = db.scalars(select(Institution.id).order_by(Institution.id).limit(4)).all()
    return ids[0], ids[2]


def stored(db, inst_id: int) -> list[Alert]:
    db.expire_all()
    return list(db.scalars(select(Alert).where(Alert.institution_id == inst_id).order_by(Alert.id)))


def test_episodes_update_and_clear():
    a = 1
    p = panel_for(a, Q[:4], until=Q[3])
    sigs = frame(signal(a, Q[0], "yellow"), signal(a, Q[1], "orange"), signal(a, Q[2], "yellow"))
    (ep,) = alerts.episodes(p, sigs, pq_of(Q[3]))
    assert (ep.first_pq, ep.last_pq, ep.level, ep.open) == (pq_of(Q[0]), pq_of(Q[2]), "orange", False)
    assert ep.cleared_pq == pq_of(Q[3]) and ep.periods == [pq_of(d) for d in Q[:3]]
    assert ep.evidence[0]["message_zh"].startswith(str(Q[2]))  # the evidence of its latest quarter
    # The summary describes the latest quarter, so it says where the (worse) level shown came from.
    assert ep.summary_zh.endswith("（本次预警期间最高为橙色，见于2023Q2）")


def test_summary_adds_nothing_when_the_latest_quarter_is_the_worst():
    a = 1
    p = panel_for(a, Q[:4], until=Q[3])
    (ep,) = alerts.episodes(p, frame(signal(a, Q[0], "yellow"), signal(a, Q[1], "red")), pq_of(Q[3]))
    assert ep.level == "red" and "最高" not in ep.summary_zh


def test_a_missing_return_neither_extends_nor_clears_a_limit_alert():
    a = 1
    p = panel_for(a, [Q[0], Q[1]], until=Q[3])  # Q3, Q4 expected but missing
    sigs = frame(signal(a, Q[0], "orange"), signal(a, Q[1], "orange"))
    (ep,) = [e for e in alerts.episodes(p, sigs, pq_of(Q[3])) if e.family == "limit"]
    assert ep.open and ep.last_pq == pq_of(Q[1]) and ep.cleared_pq is None


def test_an_exited_institution_has_its_alert_cleared():
    a = 1
    p = panel_for(a, [Q[0], Q[1]], until=Q[3], deregistered_on=date(2023, 8, 15))
    sigs = frame(signal(a, Q[1], "red"))
    (ep,) = alerts.episodes(p, sigs, pq_of(Q[3]))
    assert not ep.open and ep.cleared_pq == pq_of(Q[2])


def test_alert_is_updated_not_duplicated_then_cleared_then_reopened(db):
    a, _b = two_institutions(db)
    alerts.store(db, [], version="t")  # start from an empty inbox (alerts with cases are kept)
    before_other = {x.id for x in db.scalars(select(Alert)) if x.institution_id != a}

    # Quarter 1 and 2: the company breaches a limit.
    sigs = [signal(a, Q[0], "yellow"), signal(a, Q[1], "orange")]
    alerts.store(db, alerts.episodes(panel_for(a, Q[:2], until=Q[1]), frame(*sigs), pq_of(Q[1])), version="t")
    (first,) = stored(db, a)
    assert first.status == AlertStatus.OPEN and first.level == Level.ORANGE
    assert first.periods == ["2023Q1", "2023Q2"] and first.last_period == Q[1]
    alert_id = first.id

    # Quarter 3: still a (milder) breach — the same alert is updated, the level stays the worst.
    sigs.append(signal(a, Q[2], "yellow", code="SL-RELATED-2020"))
    counts = alerts.store(
        db, alerts.episodes(panel_for(a, Q[:3], until=Q[2]), frame(*sigs), pq_of(Q[2])), version="t"
    )
    (same,) = stored(db, a)
    assert same.id == alert_id and counts["inserted"] == 0
    assert same.level == Level.ORANGE and same.last_period == Q[2]
    assert same.periods == ["2023Q1", "2023Q2", "2023Q3"]
    assert [e["code"] for e in same.evidence] == ["SL-RELATED-2020"]  # evidence = the latest quarter's

    # Quarter 4: filed and no limit signal — cleared, same id.
    alerts.store(db, alerts.episodes(panel_for(a, Q[:4], until=Q[3]), frame(*sigs), pq_of(Q[3])), version="t")
    (cleared,) = stored(db, a)
    assert cleared.id == alert_id and cleared.status == AlertStatus.CLEARED and cleared.cleared_period == Q[3]

    # 2024Q1: a new breach opens a new alert; the cleared one stays as history.
    sigs.append(signal(a, Q[4], "red"))
    alerts.store(db, alerts.episodes(panel_for(a, Q, until=Q[4]), frame(*sigs), pq_of(Q[4])), version="t")
    rows = stored(db, a)
    assert rows[0].id == alert_id and len(rows) == 2
    assert rows[1].status == AlertStatus.OPEN and rows[1].level == Level.RED and rows[1].first_period == Q[4]

    # Recomputing the same history changes nothing.
    counts = alerts.store(
        db, alerts.episodes(panel_for(a, Q, until=Q[4]), frame(*sigs), pq_of(Q[4])), version="t"
    )
    assert counts["inserted"] == counts["updated"] == counts["deleted"] == 0
    assert [r.id for r in stored(db, a)] == [r.id for r in rows]
    assert before_other <= {x.id for x in db.scalars(select(Alert))} or not before_other


def test_one_alert_per_family(db):
    a, _b = two_institutions(db)
    alerts.store(db, [], version="t")
    sigs = frame(
        signal(a, Q[0], "orange"),
        signal(a, Q[0], "yellow", code="SL-RELATED-2020"),
        signal(a, Q[0], "yellow", family="filing", code="late"),
    )
    alerts.store(db, alerts.episodes(panel_for(a, [Q[0]], until=Q[0]), sigs, pq_of(Q[0])), version="t")
    rows = stored(db, a)
    assert sorted(r.family.value for r in rows) == ["filing", "limit"]
    limit = next(r for r in rows if r.family.value == "limit")
    assert len(limit.evidence) == 2 and limit.evidence[0]["level"] == "orange"  # worst first
    assert "等2项" in limit.summary_zh


def test_open_alert_continues_even_if_its_first_quarter_changes(db):
    """A recomputation with changed rules may move an open episode's start; the open alert (and any
    case on it) keeps its id."""
    a, _b = two_institutions(db)
    alerts.store(db, [], version="t")
    sigs = [signal(a, Q[1], "orange")]
    alerts.store(db, alerts.episodes(panel_for(a, Q[:2], until=Q[1]), frame(*sigs), pq_of(Q[1])), version="t")
    (first,) = stored(db, a)
    sigs.insert(0, signal(a, Q[0], "yellow"))  # now the episode starts a quarter earlier
    alerts.store(db, alerts.episodes(panel_for(a, Q[:2], until=Q[1]), frame(*sigs), pq_of(Q[1])), version="t")
    (again,) = stored(db, a)
    assert again.id == first.id and again.first_period == Q[0]


def test_alert_with_a_case_is_kept_when_its_episode_disappears(db):
    from qiantang.cases.models import Case, CaseState, Owner

    a, _b = two_institutions(db)
    alerts.store(db, [], version="t")
    sigs = frame(signal(a, Q[0], "red"))
    alerts.store(db, alerts.episodes(panel_for(a, [Q[0]], until=Q[0]), sigs, pq_of(Q[0])), version="t")
    (alert,) = stored(db, a)
    inst = db.get(Institution, a)
    db.add(
        Case(
            alert_id=alert.id,
            institution_id=a,
            district_code=inst.district_code,
            level=Level.RED,
            owner=Owner.CITY,
            state=CaseState.PENDING,
            title="测试",
            due_on=date(2024, 1, 31),
        )
    )
    db.flush()
    counts = alerts.store(db, [], version="t")  # e.g. the rule was withdrawn
    (kept,) = stored(db, a)
    assert kept.id == alert.id and kept.status == AlertStatus.CLEARED
    assert counts["kept_for_cases"] >= 1


@pytest.mark.parametrize("level", ["yellow", "orange", "red"])
def test_level_is_the_worst_of_the_episode(level):
    a = 1
    sigs = frame(signal(a, Q[0], level), signal(a, Q[1], "yellow"))
    (ep,) = alerts.episodes(panel_for(a, Q[:2], until=Q[1]), sigs, pq_of(Q[1]))
    assert ep.level == level


@pytest.mark.parametrize("district", [None, "330106"])
def test_alert_inbox_pages_keep_the_order_and_rows(db, district):
    """The inbox sorts the ids, then loads the page's alerts: every page holds the alerts of the full
    order (latest quarter first, then worst level, then id), each with its institution, none twice."""
    from qiantang.auth.models import Role
    from qiantang.auth.scope import Scope
    from qiantang.earlywarning import service

    scope = Scope.system() if district is None else Scope(role=Role.DISTRICT_OFFICER, district_code=district)
    filters = service.AlertFilters(status=None)
    stmt = select(Alert).join(Institution, Institution.id == Alert.institution_id)
    if district:
        stmt = stmt.where(Institution.district_code == district)
    every = list(db.scalars(stmt).unique())
    assert len(every) > 7
    expected = [
        a.id
        for a in sorted(every, key=lambda a: (-a.last_period.toordinal(), service.LEVEL_ORDER[a.level], a.id))
    ]
    pages = []
    for offset in range(0, len(every), 7):
        rows, total = service.list_alerts(db, scope=scope, filters=filters, limit=7, offset=offset)
        assert total == len(every) and len(rows) == min(7, len(every) - offset)
        assert all(a.institution is not None for a in rows)
        pages.extend(a.id for a in rows)
    assert pages == expected
    whole, _total = service.list_alerts(db, scope=scope, filters=filters, limit=len(every))
    assert [a.id for a in whole] == expected
