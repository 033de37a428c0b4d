"""Indicators grouped by theme for tables and charts: the context themes first (who the patients are, where
the practice is, its GPs), then the performance themes (what happens to the patients).

A definition's `purpose` (context or performance) decides which half an indicator is in; this map only
orders and names the groups. An indicator the map does not know (a new catalogue file) is shown under
"Other context figures" or "Other performance figures", so nothing is ever left out of a table.
`KEY` lists the few indicators a cluster page shows by default; the column chooser shows the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Theme:
    slug: str
    title: str
    purpose: str  # context | performance
    members: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()  # indicator ids starting with these belong here too (e.g. rx_)

    def holds(self, indicator_id: str) -> bool:
        return indicator_id in self.members or indicator_id.startswith(self.prefixes or ("\0",))


THEMES: tuple[Theme, ...] = (
    Theme("patients", "Patients: list and age", "context",
          ("list_size", "list_size_change", "need_weighted_list_size", "need_index", "aged_0_4", "aged_under_15",
           "aged_15_64", "aged_65_plus", "aged_75_plus", "aged_85_plus", "female_patients", "sex_ratio")),
    Theme("place", "Deprivation and rurality", "context",
          ("simd_rank_mean", "list_in_simd_quintile_1", "list_in_simd_quintile_5", "list_in_rural_practices",
           "urban_rural_class")),
    Theme("gps", "GPs", "context", ("gp_headcount", "gp_registrars_and_retainees", "gps_per_1000")),
    Theme("other-context", "Other context figures", "context"),
    Theme("hospital", "Hospital use", "performance", ("emergency_admission_rate", "ae_attendance_rate")),
    Theme("consultations", "Consultations and the MDT", "performance",
          ("gp_consultation_rate", "mdt_consultation_rate", "mdt_share_of_consultations")),
    Theme("prescribing", "Prescribing", "performance", ("high_risk_prescribing",), ("rx_",)),
    Theme("other-performance", "Other performance figures", "performance"),
)

#: shown by default in a cluster's table (with any indicator that has a signal in the cluster)
KEY: frozenset[str] = frozenset({
    "list_size", "aged_65_plus", "need_index", "list_in_simd_quintile_1", "simd_rank_mean", "gps_per_1000",
    "emergency_admission_rate", "ae_attendance_rate", "gp_consultation_rate", "mdt_consultation_rate",
    "high_risk_prescribing", "rx_cost_per_patient", "rx_antibacterial_items_star_pu",
})


def theme_of(indicator) -> Theme:
    """The theme an indicator (anything with indicator_id and purpose) is shown under."""
    purpose = getattr(indicator, "purpose", "context")
    for theme in THEMES:
        if theme.purpose == purpose and theme.holds(indicator.indicator_id):
            return theme
    return THEMES[-1] if purpose == "performance" else next(t for t in THEMES if t.slug == "other-context")


def grouped(indicators: Iterable) -> list[tuple[Theme, list]]:
    """(theme, its indicators) in theme order, members in the map's order (then by title); empty themes
    left out."""
    by_theme: dict[str, list] = {}
    for indicator in indicators:
        by_theme.setdefault(theme_of(indicator).slug, []).append(indicator)
    out = []
    for theme in THEMES:
        members = by_theme.get(theme.slug)
        if members:
            order = {k: n for n, k in enumerate(theme.members)}
            members.sort(key=lambda i: (order.get(i.indicator_id, len(order)), i.title))
            out.append((theme, members))
    return out


def ordered(indicators: Iterable) -> list:
    """The indicators in theme order (context first)."""
    return [i for _, members in grouped(indicators) for i in members]
