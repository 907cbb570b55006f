"""上市后备企业培育库: the listing pipeline (plan 四(二)1), its funnel and a forecast of listings."""
