"""The whole computation on the tiny demo city: what ``run`` stores, that a rerun keeps alert ids,
and that it hands the latest quarter to the cases service."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from qiantang.earlywarning import service
from qiantang.earlywarning.models import (
    Alert,
    AlertStatus,
    EwIndicator,
    EwPeerBand,
    EwRating,
    EwRun,
    EwSignal,
)


def test_the_demo_load_ran_the_early_warning(db):
    run = db.scalars(select(EwRun).order_by(EwRun.id)).first()
    assert run is not None and run.triggered_by == "demo"
    assert run.first_period == date(2015, 3, 31) and run.last_period == date(2025, 12, 31)
    assert run.version.startswith("ind-") and "rules-" in run.version and "rating-" in run.version
    c = run.counts
    assert c["indicators"] > 0 and c["signals"] > 0 and c["ratings"] > 0
    assert set(c["signals_by_family"]) == {"limit", "peer", "trend", "filing", "rating", "conduct"}
    assert c["challenger"]["status"] in ("ok", "partial", "too_few_events")
    assert db.scalar(select(func.count()).select_from(EwIndicator)) == c["indicators"]
    assert db.scalar(select(func.count()).select_from(EwRating)) == c["ratings"]


def test_every_expected_quarter_has_indicators_and_peer_bands(db):
    comp = service.compute(db)
    rows = comp.panel.rows
    stored = db.execute(
        select(EwIndicator.institution_id, EwIndicator.period_end).where(
            EwIndicator.code == "filing_missing_4q"
        )
    ).all()
    assert len(stored) == len(rows)  # one per institution and quarter, filed or missing
    missing = rows[~rows["filed"]]
    if len(missing):
        inst, day = int(missing.iloc[0]["institution_id"]), missing.iloc[0]["period_end"]
        assert (
            db.scalar(
                select(EwIndicator.value).where(
                    EwIndicator.institution_id == inst,
                    EwIndicator.period_end == day,
                    EwIndicator.code == "filing_missing",
                )
            )
            == 1.0
        )
    types = set(rows["type_code"])
    band_types = set(db.scalars(select(EwPeerBand.type_code).distinct()))
    assert band_types <= types and len(band_types) >= 3
    band = db.scalars(select(EwPeerBand).where(EwPeerBand.code == "roa")).first()
    assert band.p10 <= band.p25 <= band.median <= band.p75 <= band.p90 and band.mad >= 0


def test_signals_carry_their_evidence(db):
    for family in ("limit", "peer", "trend", "filing", "rating"):
        s = db.scalars(select(EwSignal).where(EwSignal.family == family).limit(1)).first()
        assert s is not None, family
        assert s.message_zh and s.message_en and isinstance(s.evidence, dict)
        if family in ("limit", "peer", "trend"):
            assert len(s.evidence["last4"]) == 4
        if family == "limit":
            assert s.evidence["citation"] and s.threshold == s.evidence["limit"]
        if family == "peer":
            assert {"p25", "median", "p75", "n", "mad"} <= set(s.evidence["band"])
        if family == "rating":
            assert s.evidence["dimensions"] and s.level.value in ("orange", "red")


def test_rerun_keeps_alert_ids_and_calls_the_cases_service(db, monkeypatch):
    import qiantang.cases.service as cases

    before = dict(db.execute(select(Alert.id, Alert.status)).all())
    calls = []
    monkeypatch.setattr(cases, "sync_cases", lambda session, *, as_of: calls.append(as_of) or 0)
    run = service.run(db, triggered_by="test")
    after = dict(db.execute(select(Alert.id, Alert.status)).all())
    assert after == before  # same alerts, same ids, same status
    assert run.counts["alerts"]["inserted"] == 0 and run.counts["alerts"]["deleted"] == 0
    assert calls == [date(2025, 12, 31)]
    assert run.triggered_by == "test" and run.seconds > 0
    open_alerts = db.scalar(select(func.count()).select_from(Alert).where(Alert.status == AlertStatus.OPEN))
    assert open_alerts == run.counts["alerts"]["open"]
    # Open alerts all reach the latest quarter or belong to institutions still expected to file.
    latest = db.scalars(select(Alert.last_period).where(Alert.status == AlertStatus.OPEN)).all()
    assert latest and max(latest) == date(2025, 12, 31)


def test_ratings_have_levels_reasons_and_a_pd_only_where_trained(db):
    run = service.latest_run(db)
    years = run.counts["challenger"]["years"]
    for r in db.scalars(select(EwRating).where(EwRating.period_end == date(2025, 12, 31)).limit(50)):
        assert 0 <= r.score <= 100 and r.level.value in ("red", "orange", "yellow", "green")
        assert set(r.dimensions) == {"C", "A", "M", "E", "L", "RR"}
        assert isinstance(r.reasons, list)
        trained = years.get("2025", {}).get("status") == "ok"
        assert (r.challenger_pd is not None) == trained
    early = db.scalars(select(EwRating).where(EwRating.period_end == date(2015, 3, 31)).limit(5)).all()
    assert early and all(r.challenger_pd is None for r in early)  # nothing to learn from before 2015


def test_an_empty_register_computes_nothing_without_failing():
    from qiantang.earlywarning import alerts, challenger, indicators, rating, rules
    from qiantang.earlywarning.panel import panel_from_records

    panel = panel_from_records([{"id": 1, "template": "small_loan"}], [])
    assert panel.empty
    wide = indicators.compute(panel)
    long = indicators.to_long(panel, wide)
    bands = rules.peer_bands(long)
    settings, ruleset = rules.load_signal_settings(), rules.load_rules("330100")
    history = rules.History(panel, wide)
    parts = [
        rules.evaluate_limits(panel, wide, ruleset, history),
        rules.evaluate_peers(panel, long, bands, settings, history),
        rules.evaluate_trends(panel, wide, settings, history),
        rules.evaluate_filing(panel, wide, settings, history),
    ]
    assert all(p.empty for p in parts) and long.empty and bands.empty
    card = rating.load_scorecard()
    rated = rating.score(panel, rating.rating_inputs(panel, wide, ruleset, parts[0]), card)
    assert len(rated.rows) == 0
    result = challenger.fit_and_score(panel, wide, challenger.onsets(panel, card.distress), card.challenger)
    assert result.status == "too_few_events"
    assert alerts.episodes(panel, parts[0], 0) == []
