"""Signals from the stored indicator results, scored, ranked per cluster and put into plain words.

`rebuild_signals` runs after every compute and replaces the warehouse table `signal`: one row per signal
per quarter in which it is new, ongoing or resolved. The score (docs/signals.md) ranks a cluster's
signals; the first `signals_shown` (a setting) of each cluster and quarter are "worth discussing", the
rest stay listed behind a filter. Sentences carry no counts (they are shown next to pseudonyms too) and
no statistical jargon; the method is stored beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from gpcluster import config
from gpcluster.indicators.definition import Definition

SIGNAL_LEVELS = ("practice", "cluster")
POLARITY_WEIGHT = {"worse": 1.0, "neutral": 0.8, "better": 0.6}
MAX_STRENGTH = 10.0
COLUMNS = [
    "signal_id", "indicator_id", "level", "area_code", "cluster_id", "hscp_code", "board_code", "period",
    "start_period", "status", "direction", "concern", "evidence", "persistence", "observed", "expected",
    "denominator", "ratio", "difference", "z_level", "change_pct", "z_change", "score", "rank_in_cluster",
    "worth_discussing", "sentence", "method",
]  # fmt: skip
SCHEMA = """
CREATE TABLE IF NOT EXISTS signal (
    signal_id        VARCHAR NOT NULL,   -- '<level>:<area code>:<indicator>:<start quarter YYYY-MM>', stable
    indicator_id     VARCHAR NOT NULL,
    level            VARCHAR NOT NULL,   -- practice | cluster
    area_code        VARCHAR NOT NULL,
    cluster_id       VARCHAR,            -- the cluster whose list it belongs to this quarter
    hscp_code        VARCHAR,
    board_code       VARCHAR,
    period           DATE NOT NULL,      -- the quarter this row describes
    start_period     DATE NOT NULL,
    status           VARCHAR NOT NULL,   -- new | ongoing | resolved
    direction        VARCHAR NOT NULL,   -- high | low
    concern          VARCHAR NOT NULL,   -- worse | better | neutral (from the indicator's polarity)
    evidence         VARCHAR,            -- level | change (NULL when resolved)
    persistence      INTEGER NOT NULL,   -- quarters the run has lasted (for resolved: the run's length)
    observed         DOUBLE,             -- O this quarter
    expected         DOUBLE,             -- E this quarter (Scotland's rates; for a change, times the unit's usual O/E)
    denominator      DOUBLE,
    ratio            DOUBLE,             -- O / E
    difference       DOUBLE,             -- (O - E) / denominator x multiplier: in the indicator's unit
    z_level          DOUBLE,
    change_pct       DOUBLE,             -- against the unit's own baseline (NULL when not tested)
    z_change         DOUBLE,
    score            DOUBLE NOT NULL,
    rank_in_cluster  INTEGER,
    worth_discussing BOOLEAN NOT NULL,
    sentence         VARCHAR NOT NULL,   -- plain words, without the unit's name (the page adds its label)
    method           VARCHAR NOT NULL    -- how it was judged, for the "how we know" detail
)"""


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def quarter_words(period) -> str:
    """date(2024, 10, 1) -> 'Oct-Dec 2024' (the quarter whose list-size release opens it)."""
    d = pd.Timestamp(period)
    last = d.month + 1  # the quarter's third month, counted from 0 (a list of packs names hundreds of them)
    end_year = d.year + last // 12
    start, end = _MONTHS[d.month - 1], _MONTHS[last % 12]
    return f"{start}–{end} {end_year}" if d.year == end_year else f"{start} {d.year}–{end} {end_year}"


def _lower_first(title: str) -> str:
    return title[0].lower() + title[1:] if len(title) > 1 and title[1].islower() else title


def _concern(polarity: str, direction: int) -> str:
    if polarity == "neither":
        return "neutral"
    return "worse" if (direction > 0) == (polarity == "higher_is_worse") else "better"


def _adjustment(definition: Definition, unit_word: str) -> str:
    if definition.expected is not None:
        parts = [f"the age and sex of the {unit_word}'s patients"]
    elif definition.measure_type == "proportion":
        parts = [f"the {unit_word}'s number of {definition.denominator_label}"]
    else:
        parts = [f"the {unit_word}'s list size"]
    where = [f for f in definition.adjust_for if f in ("deprivation", "rurality")]
    if where:
        parts.append(f"the {' and '.join(where)} of where {'it is' if unit_word == 'practice' else 'its practices are'}")
    if "hscp" in definition.adjust_for:
        parts.append("what its HSCP provides")
    return ", ".join(parts)


def _amount(definition: Definition, difference: float) -> str:
    """A difference in the indicator's own unit, for people: '3.2 percentage points', '8.3 per 1,000 ...'."""
    size = abs(difference)
    text = f"{size:,.1f}" if size < 100 else f"{size:,.0f}"
    if definition.unit.strip() == "%":
        return f"{text} percentage points"
    return f"{text} {definition.unit}"


def _ratio_words(ratio: float) -> str:
    if ratio >= 2:
        return f"{ratio:.1f} times what was expected"
    pct = abs(ratio - 1) * 100
    return f"{pct:.0f}% {'higher' if ratio > 1 else 'lower'} than expected"


@dataclass(frozen=True)
class _Context:
    definition: Definition
    level: str
    method: str


def _sentence(ctx: _Context, evidence: str, direction: int, period, start, persistence: int, ratio: float,
              difference: float, change_pct: float) -> str:
    what = ctx.definition.title
    unit_word = "practice" if ctx.level == "practice" else "cluster"
    peers = "practices" if ctx.level == "practice" else "clusters"
    quarter = quarter_words(period)
    if evidence == "level":
        lasting = f", as in every quarter since {quarter_words(start)}" if persistence > 1 else ""
        return (f"{what}: {_ratio_words(ratio)} in {quarter}{lasting} "
                f"({_amount(ctx.definition, difference)} {'more' if difference > 0 else 'fewer'}), after "
                f"allowing for {_adjustment(ctx.definition, unit_word)} and the usual differences between {peers}.")
    verb = "rose" if direction > 0 else "fell"
    lasting = f", and has stayed that way since {quarter_words(start)}" if persistence > 1 else ""
    return (f"{what} {verb} by {abs(change_pct) * 100:.0f}% in {quarter} compared with the {unit_word}'s own "
            f"previous three years{lasting}, after allowing for the season and for changes across its HSCP.")


def _method(definition: Definition, level: str, models: pd.DataFrame) -> str:
    fit = models[(models["indicator_id"] == definition.id) & (models["level"] == level)]
    peers = "practices" if level == "practice" else "clusters"
    standard = ("expected counts from Scotland's rates for each age band and sex (indirect standardisation)"
                if definition.expected is not None else
                "expected counts from Scotland's rate" + (f" among {definition.denominator_label}"
                                                         if definition.measure_type == "proportion" else ""))
    where = [f for f in definition.adjust_for if f in ("deprivation", "rurality")]
    if where:
        standard += (", adjusted for the " + " and ".join(where) + " of each practice's location "
                     "(Poisson main effects across all quarters)")
    if "hscp" in definition.adjust_for:
        standard += " and for its HSCP in each quarter"
    spread = ""
    if not fit.empty:
        latest = fit.sort_values("period").iloc[-1]
        if latest["adjusted"]:
            spread = (f"; funnel limits widened for real differences between {peers} (overdispersion "
                      f"φ = {latest['phi']:.1f}, τ = {np.sqrt(latest['tau2']):.3f} on the {latest['scale']} scale, "
                      "DerSimonian-Laird, as FunnelPlotR)")
        else:
            spread = "; no overdispersion found, so the funnel limits are not widened"
    return (f"Observed against {standard}{spread}. A level signal needs the 99.8% limit this quarter and the "
            "95% limit the quarter before and a difference of at least 25%; a change signal needs two quarters "
            "beyond the two-sigma lines of the unit's own previous 12 quarters relative to its HSCP (Making Data "
            "Count rules), one beyond three sigma, and a change of at least 10%.")


def _reference_rows(frame: pd.DataFrame, series, hscp) -> np.ndarray | None:
    """Each unit's HSCP row in the HSCP grid (-1: compare with Scotland, for a unit that is most of its
    HSCP, where subtracting the HSCP would cancel the unit's own change)."""
    if hscp is None:
        return None
    last = frame.sort_values("period").groupby("area_code")["hscp_code"].last()
    row = pd.Index(hscp.keys["area_code"]).get_indexer(last.reindex(series.keys["area_code"]).to_numpy())
    row = np.broadcast_to(row[:, None], series.expected.shape).copy()
    has = row >= 0
    share = np.zeros(series.expected.shape)
    share[has] = series.expected[has] / hscp.expected[row[has], np.nonzero(has)[1]]
    row[~(share <= 0.5)] = -1
    return row


def detect_indicator(frame: pd.DataFrame, definition: Definition, level: str, method: str,
                     hscp_frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Signal rows for one performance indicator and level from its stored results (and its HSCPs')."""
    # scipy (through the detectors) only when signals are built: the web app and the CLI import this module
    from gpcluster.signals.detect import change_evidence, grid, level_evidence, relative_log_rate, runs

    series = grid(frame)
    hscp = grid(hscp_frame.loc[lambda f: f["period"].isin(series.periods)]) if hscp_frame is not None else None
    if hscp is not None and len(hscp.periods) != len(series.periods):
        hscp = None
    level_dir = level_evidence(series)
    reference = _reference_rows(frame, series, hscp)
    change = change_evidence(series, relative_log_rate(series, hscp, reference) if hscp is not None else None)
    evidence = np.where(level_dir != 0, level_dir, change.direction).astype(np.int8)
    run = runs(evidence)
    has_row = series.position >= 0
    live_u, live_t = np.nonzero((run.direction != 0) & has_row)
    gone_u, gone_t = np.nonzero(run.resolved & has_row)
    unit = np.concatenate([live_u, gone_u])
    t = np.concatenate([live_t, gone_t])
    resolved = np.r_[np.zeros(live_u.size, dtype=bool), np.ones(gone_u.size, dtype=bool)]
    if not unit.size:
        return pd.DataFrame(columns=[c for c in COLUMNS if c not in ("rank_in_cluster", "worth_discussing")])
    direction = np.where(resolved, run.ended[unit, t], run.direction[unit, t]).astype(int)
    prior = np.maximum(t - 1, 0)
    start = np.where(resolved, run.start[unit, prior], run.start[unit, t])
    persistence = np.where(resolved, run.persistence[unit, prior], run.persistence[unit, t])
    is_level = ~resolved & (level_dir[unit, t] == direction)
    base = change.baseline_ratio[unit, t]
    o, e = series.observed[unit, t], series.expected[unit, t]
    expected = np.where(~resolved & ~is_level & np.isfinite(base), e * base, e)
    source = frame.iloc[series.position[unit, t]].reset_index(drop=True)
    den = source["denominator"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = o / expected
        difference = (o - expected) / den * definition.multiplier
    z = np.where(is_level, series.z[unit, t], change.z[unit, t])
    concern = np.array([_concern(definition.polarity, d) for d in direction])
    strength = np.minimum(np.nan_to_num(np.abs(z)), MAX_STRENGTH)
    magnitude = np.minimum(1 + np.nan_to_num(np.abs(ratio - 1)), 2.0)
    weight = np.array([POLARITY_WEIGHT[c] for c in concern])
    score = np.where(resolved, 0.0, strength * weight * (1 + 0.1 * np.minimum(persistence - 1, 4)) * magnitude)
    periods, starts = series.periods[t], series.periods[start]
    ctx = _Context(definition, level, method)
    sentences = [
        (f"{definition.title}: back within the expected range in {quarter_words(p)}, after {n} quarter"
         f"{'s' if n != 1 else ''} {'above' if d > 0 else 'below'} it.") if gone else
        _sentence(ctx, "level" if lv else "change", d, p, st, n, r, diff, rel)
        for gone, lv, d, p, st, n, r, diff, rel in zip(resolved, is_level, direction, periods, starts, persistence,
                                                        ratio, difference, change.relative[unit, t], strict=True)]
    area = series.keys["area_code"].to_numpy()[unit]
    status = np.where(resolved, "resolved", np.where(persistence == 1, "new", "ongoing"))
    return pd.DataFrame({
        "signal_id": [f"{level}:{a}:{definition.id}:{pd.Timestamp(st):%Y-%m}" for a, st in zip(area, starts,
                                                                                             strict=True)],
        "indicator_id": definition.id, "level": level, "area_code": area,
        "cluster_id": source["cluster_id"], "hscp_code": source["hscp_code"], "board_code": source["board_code"],
        "period": periods, "start_period": starts, "status": status,
        "direction": np.where(direction > 0, "high", "low"), "concern": concern,
        "evidence": np.where(resolved, None, np.where(is_level, "level", "change")),
        "persistence": persistence, "observed": o, "expected": expected, "denominator": den, "ratio": ratio,
        "difference": difference, "z_level": series.z[unit, t], "change_pct": change.relative[unit, t] * 100,
        "z_change": change.z[unit, t], "score": score, "sentence": sentences, "method": method,
    })


def rank(signals: pd.DataFrame, shown: int) -> pd.DataFrame:
    """Rank each cluster's live signals per quarter (practices of the cluster and the cluster itself)."""
    out = signals.copy()
    out["rank_cluster"] = np.where(out["level"] == "cluster", out["area_code"], out["cluster_id"])
    live = out["status"] != "resolved"
    ordered = out[live].sort_values(["rank_cluster", "period", "score", "indicator_id", "area_code"],
                                    ascending=[True, True, False, True, True])
    position = ordered.groupby(["rank_cluster", "period"], dropna=False).cumcount() + 1
    out["rank_in_cluster"] = pd.Series(position, index=ordered.index).reindex(out.index)
    out.loc[out["rank_cluster"].isna(), "rank_in_cluster"] = np.nan
    out["worth_discussing"] = out["rank_in_cluster"].le(shown).fillna(False).astype(bool)
    return out.drop(columns="rank_cluster")[COLUMNS]


def detect(results: pd.DataFrame, definitions: dict[str, Definition], models: pd.DataFrame,
           shown: int | None = None) -> pd.DataFrame:
    """Every signal of every performance indicator (practice and cluster level), ranked."""
    shown = int(config.get("signals_shown")) if shown is None else shown
    found = []
    for indicator_id, frames in results.groupby("indicator_id", sort=True):
        definition = definitions.get(indicator_id)
        if definition is None or not definition.is_performance:
            continue
        hscp = frames[frames["level"] == "hscp"]
        for level in SIGNAL_LEVELS:
            frame = frames[frames["level"] == level]
            if not frame.empty:
                found.append(detect_indicator(frame, definition, level, _method(definition, level, models),
                                              hscp if not hscp.empty else None))
    found = [f for f in found if not f.empty]
    if not found:
        return pd.DataFrame(columns=COLUMNS)
    return rank(pd.concat(found, ignore_index=True), shown)


def rebuild_signals(con: duckdb.DuckDBPyConnection, definitions: dict[str, Definition]) -> int:
    """Replace the warehouse's `signal` table with the signals of the stored results; returns the row count."""
    performance = sorted(i for i, d in definitions.items() if d.is_performance)
    results = con.execute("""
        SELECT indicator_id, period, level, area_code, cluster_id, hscp_code, board_code, numerator,
               denominator, expected, z_score, value
        FROM indicator_value
        WHERE list_contains(?, indicator_id) AND list_contains(?, level)""",
                          [performance, [*SIGNAL_LEVELS, "hscp"]]).df()
    models = con.execute("SELECT * FROM funnel_model").df() if performance else pd.DataFrame(
        columns=["indicator_id", "level", "period", "adjusted", "phi", "tau2", "scale"])
    signals = detect(results, definitions, models)
    con.execute(SCHEMA)
    con.register("new_signals", signals)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM signal")
        con.execute(f"INSERT INTO signal SELECT {', '.join(COLUMNS)} FROM new_signals")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("new_signals")
    return len(signals)
