"""Peer anomalies: the robust z-score (median/MAD) within type and quarter, adverse direction only,
with a minimum number of peers; and the stored peer bands."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from qiantang.earlywarning import indicators, rules
from qiantang.earlywarning.panel import panel_from_records, pq_of

DAY = date(2023, 6, 30)


def peer_panel(overdue_shares: list[float], *, template: str = "small_loan"):
    """Small-loan companies identical except for their 90+-day overdue share (in %)."""
    insts, filings = [], []
    for i, share in enumerate(overdue_shares, start=1):
        insts.append({"id": i, "template": template, "registered_capital": 1e8})
        filings.append(
            {
                "institution_id": i,
                "period_end": DAY,
                "data": {
                    "registered_capital": 10_000.0,
                    "total_assets": 15_000.0,
                    "equity": 10_000.0,
                    "total_liabilities": 5_000.0,
                    "loan_balance": 10_000.0,
                    "overdue_91_180": share / 100 * 10_000.0,
                    "overdue_181_360": 0.0,
                    "overdue_over_360": 0.0,
                    "net_profit": 100.0,
                },
            }
        )
    return panel_from_records(insts, filings)


def peer_signals(panel, settings):
    wide = indicators.compute(panel)
    long = indicators.to_long(panel, wide)
    bands = rules.peer_bands(long)
    out = rules.evaluate_peers(panel, long, bands, settings, rules.History(panel, wide))
    return out[out["code"] == "sl_overdue90_share"], bands


SETTINGS = replace(rules.load_signal_settings(), min_peers=8, yellow_z=3.5, orange_z=6.0)
VALUES = [2.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0, 7.0, 8.0]


def test_robust_z_score_flags_the_adverse_outlier():
    values = [*VALUES, 15.0, 40.0]
    signals, bands = peer_signals(peer_panel(values), SETTINGS)
    median = float(np.median(values))
    mad = float(np.median(np.abs(np.array(values) - median)))
    assert (median, mad) == (5.0, 2.0)
    band = bands[(bands["code"] == "sl_overdue90_share") & (bands["pq"] == pq_of(DAY))].iloc[0]
    assert band["n"] == 11 and band["median"] == pytest.approx(5.0) and band["mad"] == pytest.approx(2.0)
    assert band["p25"] == pytest.approx(np.percentile(values, 25)) and band["p90"] == pytest.approx(
        np.percentile(values, 90)
    )
    flagged = dict(zip(signals["institution_id"], signals["level"], strict=True))
    z15 = (15.0 - median) / (1.4826 * mad)  # 3.37: not enough
    z40 = (40.0 - median) / (1.4826 * mad)  # 11.8: orange
    assert z15 < 3.5 < 6.0 < z40
    assert flagged == {11: "orange"}
    ev = signals.iloc[0]["evidence"]
    assert ev["z"] == pytest.approx(z40, abs=1e-3)
    assert ev["band"]["median"] == 5.0 and ev["band"]["n"] == 11
    assert "同类机构中位数" in signals.iloc[0]["message_zh"]


def test_yellow_between_the_thresholds():
    values = [*VALUES, 15.0]
    median = np.median(values)
    z = (15.0 - median) / (1.4826 * np.median(np.abs(np.array(values) - median)))
    assert 3.5 <= z < 6.0  # 10 / (1.4826 · 1.5) = 4.50
    signals, _ = peer_signals(peer_panel(values), SETTINGS)
    assert signals["level"].tolist() == ["yellow"]
    assert signals.iloc[0]["evidence"]["z"] == pytest.approx(z, abs=1e-3)


def test_only_the_adverse_direction_counts():
    # A very low overdue share is good news for an "up" indicator: no signal.
    values = [v + 10 for v in VALUES] + [0.0]
    signals, _ = peer_signals(peer_panel(values), SETTINGS)
    assert signals.empty


def test_too_few_peers_means_no_peer_signal():
    values = [2.0, 3.0, 4.0, 5.0, 5.0, 6.0, 60.0]  # 7 peers < 8
    signals, _ = peer_signals(peer_panel(values), SETTINGS)
    assert signals.empty
    signals, _ = peer_signals(peer_panel(values), replace(SETTINGS, min_peers=5))
    assert signals["institution_id"].tolist() == [7]


def test_zero_mad_falls_back_to_the_interquartile_range_or_skips():
    values = [5.0] * 10 + [9.0]  # MAD 0 and IQR 0: no spread, no signal
    signals, _ = peer_signals(peer_panel(values), SETTINGS)
    assert signals.empty


def test_filing_indicators_have_no_peer_band():
    _signals, bands = peer_signals(peer_panel(VALUES), SETTINGS)
    assert not bands["code"].str.startswith("filing_").any()
    assert {"sl_overdue90_share", "roa", "equity_to_capital"} <= set(bands["code"])
