"""The demo city's risk-compensation pools and interest subsidies in 2025 — synthetic.

The platform loans the demo's matchmaking disbursed are enrolled in the pool whose rules they meet (the
real eligibility check) and given their subsidy schedule. Whether a covered loan defaults depends on the
firm's latent health — firms that already have a non-performing loan default far more often — not on the
pool's rules. Defaults become claims computed by the real service; city staff approve some and pay some.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.enterprises.models import Loan, LoanClassification
from qiantang.matching import pools
from qiantang.standards.loan_class import LoanClass


class _City:
    id = None
    username = "demo-city"


def build_pools(session: Session, *, seed: int, start, end, bad: set[int]) -> dict[str, int]:
    """Pools with their funders' money, covered platform loans, subsidies, defaults and claims."""
    rng = np.random.default_rng([seed, 141])
    by_code = {p.code: p for p in pools.sync_pools(session, on=start, actor=_City())}
    loans = session.scalars(select(Loan).where(Loan.contract_no.startswith("PT")).order_by(Loan.id)).all()
    covered = []
    for loan in loans:
        pools.schedule_subsidy(session, loan=loan)
        for rule in pools.rules()["pool"]:
            pool = by_code[rule["code"]]
            if not pools.ineligible_reasons(session, rule=rule, loan=loan):
                pools.enroll(session, pool=pool, loan_id=loan.id, on=loan.start_date, actor=_City())
                covered.append(loan)
                break
    defaults = 0
    for loan in covered:
        # Latent health: a standard normal, 2.5 lower for firms that already have a bad loan.
        health = rng.normal() - (2.5 if loan.borrower_id in bad else 0.0)
        if rng.random() >= 1.0 / (1.0 + np.exp(1.0 + health)):
            continue
        day = loan.start_date + timedelta(days=int(rng.integers(30, 200)))
        if day > end:
            continue
        klass = LoanClass.LOSS if rng.random() < 0.3 else LoanClass.DOUBTFUL
        loan.classification, loan.days_past_due = klass, int((end - day).days) + 90
        session.add(
            LoanClassification(
                loan_id=loan.id,
                as_of=day,
                classification=klass,
                balance=loan.balance,
                days_past_due=90,
                source="demo_matching",
            )
        )
        defaults += 1
    session.flush()
    claims = pools.detect_claims(session, on=end)
    paid = 0
    for i, claim in enumerate(claims):
        if i % 3 == 2:
            continue  # left for city staff to approve
        pools.approve(session, claim_id=claim.id, actor=_City(), on=end)
        if i % 3 == 0:
            pools.pay(session, claim_id=claim.id, actor=_City(), on=end)
            paid += 1
    return {"covered": len(covered), "defaults": defaults, "claims": len(claims), "paid": paid}
