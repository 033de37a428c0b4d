"""The cluster's table of practices x indicators: cells formatted by unit, flags coloured only where the
indicator's polarity gives them a meaning, columns grouped by theme (context first).

Flags exist only for performance indicators (docs/signals.md): `funnel_scotland` is the practice's
position on the overdispersion-adjusted funnel of observed against expected. ▲/▼ say higher or lower than
expected (95% limits), ▲▲/▼▼ much higher or lower (99.8%). Colour says worse (warm) or better (blue) than
expected and is used only when higher is better or worse; where higher is neither (e.g. GP consultations),
the symbol stands alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from gpcluster.web import formatting, themes

SYMBOLS = {"high_998": "▲▲", "high_95": "▲", "low_95": "▼", "low_998": "▼▼"}
LEVEL_ORDER = {"practice": 0, "cluster": 1, "hscp": 2, "scotland": 3}
LEVEL_WORDS = {"cluster": "cluster", "hscp": "HSCP", "scotland": "Scotland"}
#: the print layout splits the table into tables of at most this many indicators (legible on A4)
PRINT_COLUMNS = 7


@dataclass(frozen=True)
class Flag:
    symbol: str
    css: str  # worse, worse-strong, better, better-strong, unusual, unusual-strong
    words: str  # for screen readers and the legend


def flag(label, indicator) -> Flag | None:
    """What a funnel label means for this indicator, or None (no flag, or a context figure)."""
    if label not in SYMBOLS or getattr(indicator, "purpose", "context") != "performance":
        return None
    high, strong = label.startswith("high"), label.endswith("998")
    words = ("much " if strong else "") + ("higher" if high else "lower") + " than expected"
    polarity = getattr(indicator, "polarity", "neither")
    if polarity == "neither":
        kind = "unusual"
    else:
        kind = "worse" if high == (polarity == "higher_is_worse") else "better"
        words += f" ({kind})"
    return Flag(SYMBOLS[label], kind + ("-strong" if strong else ""), words)


@dataclass(frozen=True)
class Cell:
    text: str
    flag: Flag | None = None
    suppressed: bool = False


@dataclass
class Row:
    level: str
    code: str
    name: str
    named: bool
    flags: int
    cells: dict  # indicator_id -> Cell


def cell_for(r, indicator) -> Cell:
    """One released row as a table cell: its figure formatted for its unit and its flag, if any."""
    suppressed = bool(r.suppressed) if not formatting.is_missing(r.suppressed) else False
    # a practice the viewer may not name has its value to two significant figures (gpcluster.web.release)
    rounded = r.level == "practice" and not formatting.is_missing(r.named) and not bool(r.named)
    return Cell(formatting.figure(r.value, indicator, suppressed, rounded),
                None if suppressed else flag(r.funnel_scotland, indicator), suppressed)


def rows(released: pd.DataFrame, indicators: dict) -> list[Row]:
    """Practices first (most flags first, then by name), then the cluster, HSCP and Scotland."""
    out = []
    for (level, code), group in released.groupby(["level", "area_code"], sort=False):
        cells = {r.indicator_id: cell_for(r, indicators[r.indicator_id]) for r in group.itertuples()
                 if r.indicator_id in indicators}
        first = group.iloc[0]
        out.append(Row(level, code, first["area_name"], bool(first["named"]),
                       sum(1 for c in cells.values() if c.flag is not None), cells))
    return sorted(out, key=lambda r: (LEVEL_ORDER.get(r.level, 9), -r.flags, r.name))


def default_columns(indicators: list, flagged: set[str]) -> list[str]:
    """The compact default: the key indicators and any with a flag or signal in this cluster."""
    return [i.indicator_id for i in themes.ordered(indicators) if i.indicator_id in themes.KEY
            or i.indicator_id in flagged]


def chosen_columns(requested: list[str], indicators: list, flagged: set[str]) -> tuple[list[str], str]:
    """(indicator ids to show in theme order, which choice: 'key', 'all' or 'custom')."""
    ids = [i.indicator_id for i in themes.ordered(indicators)]
    if requested == ["all"]:
        return ids, "all"
    picked = [i for i in ids if i in set(requested)]
    if picked:
        return picked, "custom"
    return default_columns(indicators, flagged) or ids, "key"


def column_groups(indicators: list, shown: list[str]) -> list[tuple[themes.Theme, list]]:
    """Theme groups of the shown indicators, for the two header rows."""
    keep = set(shown)
    return [(t, [i for i in members if i.indicator_id in keep]) for t, members in themes.grouped(indicators)
            if any(i.indicator_id in keep for i in members)]


def print_groups(indicators: list) -> list[tuple[themes.Theme, list]]:
    """Every indicator, by theme, in tables of at most PRINT_COLUMNS (the printed page has them all)."""
    out = []
    for theme, members in themes.grouped(indicators):
        for start in range(0, len(members), PRINT_COLUMNS):
            out.append((theme, members[start:start + PRINT_COLUMNS]))
    return out


LEGEND = (
    ("worse-strong", "▲▲ / ▼▼", "much worse than expected (beyond the 99.8% limit)"),
    ("worse", "▲ / ▼", "worse than expected (beyond the 95% limit)"),
    ("better", "▲ / ▼", "better than expected"),
    ("better-strong", "▲▲ / ▼▼", "much better than expected"),
    ("unusual", "▲ / ▼", "higher or lower than expected where higher is neither better nor worse (no colour)"),
)
