"""Fundraising API shapes: a firm's score with its reasons (the same fields the case routing reads)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict


class Reason(BaseModel):
    dimension: str  # the dimension's Chinese name
    text: str  # the reason in plain Chinese, with its figures
    evidence: str  # the text snippet with the keyword marked, the yield phrase, linked firms …


class ScoreOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    enterprise_id: int
    name: str = ""
    district_code: str
    category: str
    score: float
    grade: str  # red | orange | yellow | green
    version: str
    subscores: dict[str, float]
    reasons: list[Reason]
    dishonest: bool


class ScoresOut(BaseModel):
    as_of: date
    version: str
    keywords_version: str
    counts: dict[str, int]
    items: list[ScoreOut]
