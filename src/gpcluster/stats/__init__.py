"""Statistics core: confidence intervals, standardisation, funnel plots, SPC and disclosure control,
computed as PHS, ScotPHO, OHID (Fingertips) and NHS England (Making Data Count) analysts compute them.

Modules: `ci`, `standardise`, `funnel`, `spc`, `disclosure`. All functions are vectorised over numpy
arrays / pandas Series; invalid input raises `StatsInputError` (a `UserError` and a `ValueError`).
"""

import importlib

# Names are imported on first use (PEP 562): the web app needs only `disclosure`, and importing `ci`
# brings in scipy.stats, a third of the server's start-up.
_WHERE = {
    **dict.fromkeys(("byars", "dobson", "exact_poisson", "poisson", "rate", "wilson", "z_value"), "ci"),
    **dict.fromkeys(("apply_indicator_rule", "primary_suppress", "round_half_up", "round_to_base",
                     "secondary_suppress"), "disclosure"),
    **dict.fromkeys(("hsmr", "proportion_limit_lines", "proportion_limits", "proportion_significance",
                     "rate_significance", "ratio_limit_lines", "ratio_limits", "ratio_significance",
                     "spiegelhalter"), "funnel"),
    **dict.fromkeys(("c_chart", "laney_p", "laney_u", "p_chart", "u_chart", "xmr", "xmr_signals_batch"), "spc"),
    **dict.fromkeys(("ESP2013", "dsr", "dsr_grouped", "esp2013_by_sex", "indirect"), "standardise"),
    "StatsInputError": "validation",
}
_MODULES = ("ci", "disclosure", "funnel", "spc", "standardise")


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f"gpcluster.stats.{name}")
    if name in _WHERE:
        return getattr(importlib.import_module(f"gpcluster.stats.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'gpcluster.stats' has no attribute {name!r}")


__all__ = [
    "ESP2013", "StatsInputError", "apply_indicator_rule", "byars", "c_chart", "ci", "disclosure", "dobson",
    "dsr", "dsr_grouped", "esp2013_by_sex", "exact_poisson", "funnel", "hsmr", "indirect", "laney_p",
    "laney_u", "p_chart", "poisson", "primary_suppress", "proportion_limit_lines", "proportion_limits", "proportion_significance",
    "rate", "rate_significance", "ratio_limit_lines", "ratio_limits", "ratio_significance", "round_half_up", "round_to_base",
    "secondary_suppress", "spc", "spiegelhalter", "standardise", "u_chart", "wilson", "xmr",
    "xmr_signals_batch", "z_value",
]  # fmt: skip
