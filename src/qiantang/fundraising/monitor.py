"""One monitoring round: gather the tips and complaints the other modules hold, score every watched
firm (``service.run``) and route the grades into cases and the watch list (``routing.route_scores``).

The engine (``service``) and the routing (``routing``) stay separate so that each is testable alone;
this is what the command line, the scheduled job and the demo call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.enterprises.models import Enterprise
from qiantang.fundraising import routing, service, tips
from qiantang.fundraising.models import FirmScore, ScoreRun

# Tips and complaints count over the year before the scoring day (the index's complaint window).
WINDOW = timedelta(days=365)
# A dispute's respondent written differently from the register counts only at this name similarity.
DISPUTE_MATCH_MIN = 0.9


@dataclass
class Round:
    run: ScoreRun
    routed: routing.RoutingResult
    tips: int  # firms with at least one tip or complaint counted from the other modules


def outside_reports(session: Session, *, as_of: date) -> dict[int, int]:
    """Public tips (this package's inbox) and disputes about unlicensed respondents (the disputes
    register) per firm, over the year up to ``as_of``. A respondent is the register's firm of the same
    name, or — when the name was written differently (full-width brackets, a dropped 有限公司, one
    wrong character) — the closest name found by ``tips.match_firm`` with a confidence of at least
    ``DISPUTE_MATCH_MIN``; a name matching nothing that well counts for no firm."""
    from qiantang.disputes.service import unlicensed_complaints

    start = as_of - WINDOW
    counts = dict(tips.tip_counts_by_enterprise(session, since=start, until=as_of))
    by_name = unlicensed_complaints(session, start=start, end=as_of)
    found: dict[str, int] = {}
    names = list(by_name)
    for k in range(0, len(names), 500):
        chunk = names[k : k + 500]
        for eid, name in session.execute(
            select(Enterprise.id, Enterprise.name).where(Enterprise.name.in_(chunk)).order_by(Enterprise.id)
        ):
            found.setdefault(name, eid)  # two firms of one name: the smallest id, as on Spark
    for name in names:
        if name not in found:
            match = tips.match_firm(session, name)
            if match.enterprise_id is not None and (match.confidence or 0) >= DISPUTE_MATCH_MIN:
                found[name] = match.enterprise_id
    for name, eid in found.items():
        counts[eid] = counts.get(eid, 0) + int(by_name[name])
    return counts


def route_run(session: Session, run: ScoreRun) -> routing.RoutingResult:
    """Route the scores of ``run``: 红 → a city case with the hand-off clock, 橙/黄 → the district,
    绿 → the watch list. Idempotent for the same index version. The cases open today, and their due
    dates and hand-off clock count from today: a run scores the data as of its date, which may lie
    months back (the demo's data end on its last loan day), and a case must not open already late."""
    rows = session.scalars(select(FirmScore).where(FirmScore.run_id == run.id)).all()
    return routing.route_scores(session, rows, as_of=max(run.as_of, date.today()))


def monitor(
    session: Session,
    *,
    as_of: date | None = None,
    actor: str | None = None,
    notify_users: bool = True,
    engine: str = "local",
    master: str | None = None,
    source: str = "db",
    snapshot: str | None = None,
) -> Round:
    """Score with the tips and complaints of the past year, store the run, route it (``engine``,
    ``master``, ``source``, ``snapshot``: where the index is computed and what it reads, as for
    ``service.run``; with a snapshot or JDBC, Spark counts the tips and disputes too —
    ``qiantang.batch.fundraising.outside_reports``)."""
    as_of = as_of or service.data_date(session)
    if engine == "spark" and source != "db":
        from qiantang.batch import fundraising as spark_fundraising
        from qiantang.batch.spark import get_spark

        spark = get_spark(master)
        read = spark_fundraising.reader(spark, source=source, session=session, snapshot=snapshot, tips=True)
        reports = spark_fundraising.outside_reports(spark, read, session, as_of=as_of)
    else:
        reports = outside_reports(session, as_of=as_of)
    run = service.run(
        session,
        as_of=as_of,
        tips=reports,
        actor=actor,
        notify_users=notify_users,
        engine=engine,
        master=master,
        source=source,
        snapshot=snapshot,
    )
    return Round(run=run, routed=route_run(session, run), tips=len(reports))
