"""An area in one line: how many practices and patients, and how its patients compare with Scotland's on
age and deprivation (the first thing a cluster, HSCP or board page says)."""

from __future__ import annotations

import pandas as pd

from gpcluster.web import formatting

#: within this relative difference an area is "about the same as Scotland"
SIMILAR = 0.05


def _value(frame: pd.DataFrame, level: str, indicator_id: str, code: str | None = None) -> float | None:
    rows = frame[(frame["level"] == level) & (frame["indicator_id"] == indicator_id)]
    if code is not None:
        rows = rows[rows["area_code"] == code]
    if rows.empty or (rows["suppressed"].fillna(False).astype(bool)).iloc[0]:
        return None
    value = rows["value"].iloc[0]
    return None if formatting.is_missing(value) else float(value)


def _compare(area: float | None, scotland: float | None, more: str, less: str, same: str) -> str | None:
    if area is None or scotland is None or scotland == 0:
        return None
    ratio = area / scotland
    return same if abs(ratio - 1) < SIMILAR else (more if ratio > 1 else less)


def area_line(released: pd.DataFrame, level: str, code: str, practices: int, period) -> list[str]:
    """Sentences for an area (`level` cluster, hscp or board) from released rows holding its own row and
    Scotland's for list_size, aged_65_plus and list_in_simd_quintile_1 (or simd_rank_mean)."""
    patients = _value(released, level, "list_size", code)
    lead = f"{formatting.plural(practices, 'practice')}"
    if patients is not None:
        lead += f" with {formatting.whole(patients)} patients"
    sentences = [f"{lead} in {formatting.quarter(period)}."]
    old, old_scot = _value(released, level, "aged_65_plus", code), _value(released, "scotland", "aged_65_plus")
    age = _compare(old, old_scot, "Older than Scotland", "Younger than Scotland", "About as old as Scotland")
    if age:
        sentences.append(f"{age}: {formatting.percent(old)} aged 65 and over (Scotland {formatting.percent(old_scot)}).")
    poor = _value(released, level, "list_in_simd_quintile_1", code)
    poor_scot = _value(released, "scotland", "list_in_simd_quintile_1")
    deprived = _compare(poor, poor_scot, "More deprived than Scotland", "Less deprived than Scotland",
                        "About as deprived as Scotland")
    if deprived:
        sentences.append(f"{deprived}: {formatting.percent(poor)} of patients at practices in the most deprived "
                         f"fifth of areas (Scotland {formatting.percent(poor_scot)}).")
    else:
        rank, rank_scot = _value(released, level, "simd_rank_mean", code), _value(released, "scotland", "simd_rank_mean")
        # a lower SIMD rank is more deprived
        deprived = _compare(rank, rank_scot, "Less deprived than Scotland", "More deprived than Scotland",
                            "About as deprived as Scotland")
        if deprived:
            sentences.append(f"{deprived}: average SIMD rank of its practices' areas {formatting.whole(rank)} "
                             f"(Scotland {formatting.whole(rank_scot)}; 1 is the most deprived).")
    return sentences
