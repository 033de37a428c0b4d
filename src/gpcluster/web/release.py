"""The one gate every figure passes through before it leaves the server (page, API, download, chart).

1. Disclosure control: the release's suppression pattern (gpcluster.indicators.suppression, decided once
   over every indicator, period and level, so no suppressed count can be recovered by subtraction) is
   applied by gpcluster.exports.apply_disclosure, which blanks the counts and the values, intervals and
   labels that would reveal them.
2. Scope: practices the viewer may not see by name become 'Practice A', 'Practice B', ... (labels drawn
   afresh for every response, so they link nothing across pages), shown only through their performance
   figures to two significant figures, with nothing public data could be matched against: no code, list
   size, expected count, interval, rank, note or comparator naming their area (HIDDEN_KEEPS).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import numpy as np
import pandas as pd

from gpcluster.errors import UserError
from gpcluster.exports import IndicatorRule, apply_disclosure
from gpcluster.web.access import Viewer, named_mask

#: columns that may leave the server, in this order
OUTPUT_COLUMNS = [
    "indicator_id", "period", "level", "area_code", "area_name", "cluster_id", "hscp_code", "board_code",
    "numerator", "denominator", "numerator_date", "denominator_date", "note", "value", "lower95", "upper95",
    "lower998", "upper998", "expected", "z_score", "cluster_value",
    "hscp_value", "board_value", "scotland_value", "funnel_scotland", "funnel_hscp", "spc_signal", "spc_rule",
    "national_rank", "national_decile", "suppressed", "named",
]  # fmt: skip
def pseudonym(index: int) -> str:
    """0 -> 'Practice A', 25 -> 'Practice Z', 26 -> 'Practice AA', ..."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return f"Practice {letters}"


class Pseudonyms:
    """Consistent pseudonyms for the practices of one page or response.

    Labels are handed out in the order of the first frame released (by value, then a keyed hash), so
    the same practice keeps its label across every table and chart of the response.
    """

    def __init__(self) -> None:
        self._labels: dict[str, str] = {}
        self._key = secrets.token_bytes(16)  # ties broken afresh for each response

    def assign(self, codes: pd.Series, order_values: pd.Series) -> None:
        """Give labels to codes not yet labelled, in order of `order_values` (missing last)."""
        fresh = pd.DataFrame({"code": codes.to_numpy(), "value": order_values.to_numpy(dtype=float)})
        fresh = fresh[~fresh["code"].isin(self._labels)].drop_duplicates("code")
        fresh["tie"] = [hmac.new(self._key, c.encode(), hashlib.sha256).hexdigest() for c in fresh["code"]]
        fresh = fresh.sort_values(["value", "tie"], na_position="last")
        for code in fresh["code"]:
            self._labels[code] = pseudonym(len(self._labels))

    def label(self, code: str) -> str:
        return self._labels[code]


def _two_figures(values: np.ndarray) -> np.ndarray:
    """Round to two significant figures, as decimals print them (NaN stays NaN)."""
    distinct, where = np.unique(values, return_inverse=True)
    rounded = np.array([float(f"{v:.2g}") if np.isfinite(v) else v for v in distinct], dtype=float)
    return rounded[where.reshape(-1)]


# What a practice the viewer may not name keeps. Anything computable from public data (list size and
# age structure are published by PHS for every practice by name) would link the pseudonym back to the
# practice, and with it every non-public figure beside the pseudonym: so no context figure, no
# denominator or expected count (the list size times Scotland's rates), no interval (a function of the
# denominator), no rank (public context values can be ranked by anyone), no comparator naming its area.
HIDDEN_KEEPS = ("indicator_id", "period", "level", "area_code", "area_name", "value", "funnel_scotland",
                "spc_signal", "spc_rule", "national_decile", "scotland_value", "suppressed")


def release(frame: pd.DataFrame, rules: dict[str, IndicatorRule], viewer: Viewer,
            pseudonyms: Pseudonyms, pattern: pd.DataFrame, disclosed: bool = False) -> pd.DataFrame:
    """Indicator rows made safe to leave the server for this viewer (see module docstring).

    `pattern`: the release's suppression pattern (gpcluster.indicators.suppression.current_pattern). A
    practice the viewer may not name appears only through its performance figures (context figures are
    public by name elsewhere and would identify it), under a pseudonym, with its value to two significant
    figures and nothing else that public data could be matched against (HIDDEN_KEEPS).

    `disclosed`: the rows already went through disclosure control with this pattern over the whole release
    (gpcluster.web.data.WebData.values, column ``suppressed``), so only this viewer's part is left to do.
    """
    if frame.empty:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    if disclosed:
        if "suppressed" not in frame.columns:
            raise ValueError("rows said to be disclosed carry no 'suppressed' column")
        unknown = set(frame["indicator_id"].unique()) - set(rules)
        if unknown:
            raise UserError(f"no disclosure rule for indicator(s) {', '.join(sorted(unknown))}; refusing to export")
        out = frame.reset_index(drop=True)
    else:
        out = apply_disclosure(frame, rules, pattern).reset_index(drop=True)
    level = out["level"].to_numpy(dtype=object)
    is_practice = level == "practice"
    named = np.ones(len(out), dtype=bool)
    if is_practice.any():
        named[is_practice] = named_mask(viewer, out.loc[is_practice])
    hidden = ~named
    if hidden.any():
        performance = {i for i, rule in rules.items() if rule.purpose == "performance"}
        context = ~out["indicator_id"].isin(performance).to_numpy()
        keep = named | ~context  # a hidden practice shows only its performance figures
        if not keep.all():
            out, named = out.loc[keep].reset_index(drop=True), named[keep]
        hidden = ~named
    if hidden.any():
        codes = out["area_code"].to_numpy(dtype=object)
        # labels in an order that says nothing: a keyed hash of the code, fresh for every response
        pseudonyms.assign(pd.Series(codes[hidden]), pd.Series(np.nan, index=range(int(hidden.sum()))))
        labels = np.array([pseudonyms.label(c) for c in codes[hidden]], dtype=object)
        columns = {}
        for column in out.columns:
            if column not in OUTPUT_COLUMNS:
                continue
            if column == "value":
                values = out["value"].to_numpy(dtype=float, copy=True)
                values[hidden] = _two_figures(values[hidden])
                columns[column] = values
                continue
            values = out[column].to_numpy(dtype=object, copy=True)
            if column in ("area_code", "area_name"):
                values[hidden] = labels
            elif column not in HIDDEN_KEEPS:
                values[hidden] = None
            columns[column] = values
        out = pd.DataFrame(columns)
    out["named"] = named
    return out.reindex(columns=OUTPUT_COLUMNS)


SIGNAL_OUTPUT_COLUMNS = [
    "signal_id", "indicator_id", "title", "level", "area_code", "area_name", "period", "start_period", "status",
    "direction", "concern", "evidence", "persistence", "observed", "expected", "ratio", "difference",
    "change_pct", "score", "rank_in_cluster", "worth_discussing", "sentence", "method", "named",
]  # fmt: skip


def suppressed_signal_keys(pattern: pd.DataFrame) -> pd.MultiIndex:
    """The (indicator, quarter, level, area) of every figure in a suppression pattern: what
    `release_signals` looks a page's signals up in (built once per warehouse version, `WebData.memo`)."""
    return _signal_keys(pattern)


def _signal_keys(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([frame["indicator_id"], pd.to_datetime(frame["period"]), frame["level"],
                                      frame["area_code"]])


def release_signals(signals: pd.DataFrame, viewer: Viewer, pseudonyms: Pseudonyms,
                    suppressed: pd.MultiIndex) -> pd.DataFrame:
    """Signals made safe for this viewer: none about a suppressed figure (`suppressed`: the pattern's
    `suppressed_signal_keys`); a practice the viewer may not name gets its pseudonym, no id and no counts
    (its sentence has none)."""
    if signals.empty:
        return pd.DataFrame(columns=SIGNAL_OUTPUT_COLUMNS)
    out = signals[~_signal_keys(signals).isin(suppressed)].copy()
    is_practice = (out["level"] == "practice").to_numpy()
    named = np.ones(len(out), dtype=bool)
    named[is_practice] = named_mask(viewer, out.loc[is_practice])
    if (~named).any():
        hidden = out.loc[~named]
        pseudonyms.assign(hidden["area_code"], hidden["ratio"])
        labels = [pseudonyms.label(c) for c in hidden["area_code"]]
        out = out.astype({"area_code": object, "area_name": object, "signal_id": object})
        out.loc[~named, ["area_code", "area_name"]] = np.array([labels, labels], dtype=object).T
        out.loc[~named, ["signal_id", "observed", "expected"]] = None
    out["named"] = named
    return out.reindex(columns=SIGNAL_OUTPUT_COLUMNS).reset_index(drop=True)
