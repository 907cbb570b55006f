"""One monitoring round gathers what other modules hold: public tips and disputes about unlicensed
firms (the disputes register) count towards a firm's complaint signal, matched by name."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from qiantang.disputes import service as disputes
from qiantang.disputes.models import Channel, ProductType
from qiantang.disputes.service import DisputeIn
from qiantang.fundraising import monitor, service
from qiantang.fundraising.models import FirmScore

AS_OF = date(2031, 6, 30)  # after the demo's own data, so that only these disputes fall in the window


class Actor:
    id = None
    username = "tester"


def _dispute(db, ref: str, respondent: str, received_on: date, **kw) -> None:
    data = DisputeIn(
        ref_no=ref,
        complainant="王小明",
        product_type=ProductType.INVESTMENT,
        amount=200_000.0,
        channel=Channel.MEDIATION,
        body_code="ybtw",
        received_on=received_on,
        institution_id=None,
        respondent_name=respondent,
        district_code="330106",
        **kw,
    )
    disputes.register(db, data, actor=Actor(), today=AS_OF)


def _watched(db):
    firms = service.watched_firms(db)
    assert len(firms) >= 2, "the tiny demo city watches quasi-financial firms"
    return firms


def test_disputes_about_unlicensed_firms_count_for_the_firm_of_that_name(db):
    firms = _watched(db)
    (a, name_a), (b, name_b) = list(firms["name"].items())[:2]
    before = monitor.outside_reports(db, as_of=AS_OF)
    _dispute(db, "M-1", name_a, date(2031, 3, 1))
    _dispute(db, "M-2", name_a, date(2031, 5, 1))
    # The same firm written with its legal form dropped still finds it.
    _dispute(db, "M-3", name_b.replace("有限公司", ""), date(2031, 4, 1))
    # Outside the year before the scoring day: not counted.
    _dispute(db, "M-4", name_b, date(2030, 6, 29))
    # A name nothing in the register resembles counts for no firm.
    _dispute(db, "M-5", "查无此名的某某咨询服务部", date(2031, 4, 1))
    after = monitor.outside_reports(db, as_of=AS_OF)
    assert after.get(a, 0) - before.get(a, 0) == 2
    assert after.get(b, 0) - before.get(b, 0) == 1
    assert sum(after.values()) - sum(before.values()) == 3


def test_a_monitoring_round_scores_with_those_complaints(db):
    firms = _watched(db)
    firm, name = next(iter(firms["name"].items()))
    for i in range(6):
        _dispute(db, f"R-{i}", name, date(2031, 1 + i, 10))
    reports = monitor.outside_reports(db, as_of=AS_OF)
    assert reports[firm] >= 6
    done = monitor.monitor(db, as_of=AS_OF, notify_users=False)
    score = db.scalar(
        select(FirmScore).where(FirmScore.run_id == done.run.id, FirmScore.enterprise_id == firm)
    )
    baseline = service.run(db, as_of=AS_OF, tips={}, notify_users=False)
    without = db.scalar(
        select(FirmScore).where(FirmScore.run_id == baseline.id, FirmScore.enterprise_id == firm)
    )
    # The complaints raise the firm's complaint dimension, and with it the index.
    dim = next(
        k for k in score.subscores if k in without.subscores and score.subscores[k] > without.subscores[k]
    )
    assert dim and score.score > without.score
