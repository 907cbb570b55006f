"""The demo city's financial disputes, 2023 to the demo's date — synthetic.

Each open institution that deals with the public has a latent "conduct" (a gamma draw: most behave,
a few draw many complaints); the disputes it meets per quarter are Poisson with a rate set by its
type and that conduct. A few disputes concern firms without a licence. Channel, body, time to close
and outcome are drawn per channel (mediation is quick and mostly settles; arbitration and the courts
take months). Every dispute passes the register's own checks before it is stored. None of this is a
rule the statistics or the early warning apply: they only count and time what is registered.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.disputes import service
from qiantang.disputes.models import Channel, Outcome, ProductType
from qiantang.disputes.service import DisputeIn
from qiantang.enterprises.models import Enterprise
from qiantang.registry.models import Institution, InstitutionStatus

FIRST = date(2023, 1, 1)
# Disputes per institution per quarter at average conduct, and the product they concern, by type.
RATES = {
    "small_loan": (0.30, ProductType.LOAN),
    "financing_guarantee": (0.15, ProductType.GUARANTEE),
    "pawnshop": (0.10, ProductType.PAWN),
    "finance_leasing": (0.12, ProductType.LEASING),
    "commercial_factoring": (0.05, ProductType.LOAN),
    "private_fund_manager": (0.08, ProductType.INVESTMENT),
    "p2p_lending": (0.60, ProductType.LOAN),
}
BANKISH = (0.8, ProductType.CARD)  # banks and insurers (any type starting "bank" or "insur")
# Per channel: share of disputes, its bodies, the median days to close, outcome probabilities.
CHANNELS = {
    Channel.MEDIATION: (
        0.72,
        ("ybtw", "ybtw_station", "district_mediation"),
        28,
        (0.68, 0.0, 0.22, 0.0, 0.10),
    ),
    Channel.ARBITRATION: (0.13, ("hz_arbitration",), 95, (0.10, 0.52, 0.0, 0.30, 0.08)),
    Channel.LITIGATION: (0.15, ("court",), 170, (0.08, 0.50, 0.0, 0.34, 0.08)),
}
OUTCOMES = (Outcome.SETTLED, Outcome.UPHELD, Outcome.FAILED, Outcome.DISMISSED, Outcome.WITHDRAWN)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"


def _rate(type_code: str) -> tuple[float, ProductType] | None:
    if type_code in RATES:
        return RATES[type_code]
    if type_code.startswith(("bank", "insur")):
        return BANKISH
    return None


def build_disputes(session: Session, *, seed: int, as_of: date) -> int:
    """Write the demo's disputes; returns how many."""
    rng = np.random.default_rng([seed, 6_34])
    institutions = session.scalars(
        select(Institution).where(Institution.status == InstitutionStatus.ACTIVE).order_by(Institution.id)
    ).all()
    quarters = max(1, ((as_of.year - FIRST.year) * 12 + as_of.month - FIRST.month + 1) // 3)
    span = (as_of - FIRST).days
    items: list[DisputeIn] = []
    channels = list(CHANNELS)
    shares = np.array([CHANNELS[c][0] for c in channels])
    for inst in institutions:
        rate = _rate(inst.type_code)
        if rate is None:
            continue
        conduct = rng.gamma(0.8, 1 / 0.8)
        n = int(rng.poisson(rate[0] * conduct * quarters))
        for _ in range(n):
            items.append(_draw(rng, channels, shares, span, as_of, inst.id, "", None, rate[1]))
    # A few disputes about firms without a licence (the fundraising module counts these).
    firms = session.execute(
        select(Enterprise.name, Enterprise.district_code).order_by(Enterprise.id).limit(4000)
    ).all()
    for k in rng.choice(len(firms), size=min(len(firms), max(3, len(items) // 25)), replace=False):
        name, district = firms[int(k)]
        items.append(_draw(rng, channels, shares, span, as_of, None, name, district, ProductType.INVESTMENT))
    stored = []
    for i, item in enumerate(sorted(items, key=lambda d: d.received_on), start=1):
        item.ref_no = f"JF{item.received_on.year}-{i:05d}"
        if service.check(session, item, today=as_of):
            continue  # never happens with the draws above; the register's checks have the last word
        dispute = service._build(session, item)
        dispute.created_by = "demo"
        stored.append(dispute)
    session.add_all(stored)
    session.flush()
    return len(stored)


def _draw(rng, channels, shares, span, as_of, institution_id, name, district, product) -> DisputeIn:
    channel = channels[int(rng.choice(len(channels), p=shares))]
    _share, body_codes, median_days, outcome_p = CHANNELS[channel]
    received = FIRST + timedelta(days=int(rng.integers(0, span + 1)))
    accepted = received + timedelta(days=int(rng.integers(0, 8)))
    closed = accepted + timedelta(days=int(np.exp(np.log(median_days) + 0.6 * rng.standard_normal())))
    amount = float(np.round(np.exp(rng.normal(np.log(80_000), 1.2)), -2))
    outcome = closed_on = recovered = None
    if closed <= as_of:
        closed_on = closed
        outcome = OUTCOMES[int(rng.choice(len(OUTCOMES), p=outcome_p))]
        if outcome.resolved:
            recovered = float(np.round(amount * rng.uniform(0.3, 1.0), -2))
    firm = rng.random() < 0.12
    complainant = (
        f"杭州{GIVEN[int(rng.integers(len(GIVEN)))]}{SURNAMES[int(rng.integers(len(SURNAMES)))]}贸易有限公司"
        if firm
        else SURNAMES[int(rng.integers(len(SURNAMES)))]
        + "".join(rng.choice(list(GIVEN), size=int(rng.integers(1, 3))))
    )
    return DisputeIn(
        ref_no="",
        complainant=complainant,
        complainant_is_firm=firm,
        product_type=product,
        amount=amount,
        channel=channel,
        body_code=str(rng.choice(body_codes)),
        received_on=received,
        institution_id=institution_id,
        respondent_name=name,
        district_code=district,
        accepted_on=accepted if accepted <= as_of else None,
        closed_on=closed_on,
        outcome=outcome,
        recovered=recovered,
    )
