"""Chinese domain standards: USCC/organisation codes, 杭州 area codes, industry codes, SME size, loan classes.

Every fact comes from docs/reference/standards.md; unverified ones keep its ❓/⚠️ marks
(see README.md).
"""

from __future__ import annotations

from qiantang.standards.areas import (
    AREAS,
    CURRENT_CODES,
    HANGZHOU_CODE,
    AdminArea,
    AreaCheck,
    areas_valid_on,
    check_area_code,
    current_successors,
    get_area,
    is_current_code,
)
from qiantang.standards.industry import (
    DIVISIONS,
    SECTIONS,
    IndustrySection,
    normalise_industry_code,
    section_of,
)
from qiantang.standards.loan_class import (
    DAYS_PAST_DUE_FLOORS,
    TECHNICAL_DELAY_DAYS,
    ClassCheck,
    LoanClass,
    apply_floor,
    borrower_npl_contagion,
    check_classification,
    floor_for_days_past_due,
    floor_for_days_past_due_array,
    npl_ratio,
)
from qiantang.standards.sme_size import (
    SIZE_SECTORS,
    SizeClass,
    SizeResult,
    classify_sector_size,
    classify_size,
    classify_size_array,
    sector_for_industry,
)
from qiantang.standards.uscc import (
    ORG_WEIGHTS,
    USCC_CHARSET,
    USCC_WEIGHTS,
    USCCCheck,
    check_org_code,
    check_uscc,
    is_valid_uscc,
    make_uscc,
    org_check_values_array,
    org_code_check_char,
    uscc_check_char,
    uscc_check_chars_array,
)

__all__ = [
    "AREAS",
    "CURRENT_CODES",
    "DAYS_PAST_DUE_FLOORS",
    "DIVISIONS",
    "HANGZHOU_CODE",
    "ORG_WEIGHTS",
    "SECTIONS",
    "SIZE_SECTORS",
    "TECHNICAL_DELAY_DAYS",
    "USCC_CHARSET",
    "USCC_WEIGHTS",
    "AdminArea",
    "AreaCheck",
    "ClassCheck",
    "IndustrySection",
    "LoanClass",
    "SizeClass",
    "SizeResult",
    "USCCCheck",
    "apply_floor",
    "areas_valid_on",
    "borrower_npl_contagion",
    "check_area_code",
    "check_classification",
    "check_org_code",
    "check_uscc",
    "classify_sector_size",
    "classify_size",
    "classify_size_array",
    "current_successors",
    "floor_for_days_past_due",
    "floor_for_days_past_due_array",
    "get_area",
    "is_current_code",
    "is_valid_uscc",
    "make_uscc",
    "normalise_industry_code",
    "npl_ratio",
    "org_check_values_array",
    "org_code_check_char",
    "section_of",
    "sector_for_industry",
    "uscc_check_char",
    "uscc_check_chars_array",
]
