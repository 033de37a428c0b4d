"""Statistics core: confidence intervals, standardisation, funnel plots, SPC and disclosure control,
computed as PHS, ScotPHO, OHID (Fingertips) and NHS England (Making Data Count) analysts compute them.

Modules: `ci`, `standardise`, `funnel`, `spc`, `disclosure`. All functions are vectorised over numpy
arrays / pandas Series; invalid input raises `StatsInputError` (a `UserError` and a `ValueError`).
"""

from gpcluster.stats import ci, disclosure, funnel, spc, standardise
from gpcluster.stats.ci import byars, dobson, exact_poisson, poisson, rate, wilson, z_value
from gpcluster.stats.disclosure import (
    apply_indicator_rule,
    primary_suppress,
    round_half_up,
    round_to_base,
    secondary_suppress,
)
from gpcluster.stats.funnel import (
    hsmr,
    proportion_limit_lines,
    proportion_limits,
    proportion_significance,
    rate_significance,
    ratio_limit_lines,
    ratio_limits,
    ratio_significance,
    spiegelhalter,
)
from gpcluster.stats.spc import c_chart, laney_p, laney_u, p_chart, u_chart, xmr, xmr_signals_batch
from gpcluster.stats.standardise import ESP2013, dsr, dsr_grouped, esp2013_by_sex, indirect
from gpcluster.stats.validation import StatsInputError

__all__ = [
    "ESP2013", "StatsInputError", "apply_indicator_rule", "byars", "c_chart", "ci", "disclosure", "dobson",
    "dsr", "dsr_grouped", "esp2013_by_sex", "exact_poisson", "funnel", "hsmr", "indirect", "laney_p",
    "laney_u", "p_chart", "poisson", "primary_suppress", "proportion_limit_lines", "proportion_limits", "proportion_significance",
    "rate", "rate_significance", "ratio_limit_lines", "ratio_limits", "ratio_significance", "round_half_up", "round_to_base",
    "secondary_suppress", "spc", "spiegelhalter", "standardise", "u_chart", "wilson", "xmr",
    "xmr_signals_batch", "z_value",
]  # fmt: skip
