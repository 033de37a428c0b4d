"""Writing planning tables to CSV or Excel, with small-number disclosure control on patient counts.
A single MDT post's WTE at a practice is not sensitive; patient counts at or below the threshold are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gpcluster import config
from gpcluster.stats.disclosure import primary_suppress

PATIENT_COUNT_COLUMNS = ("list_size", "need_weighted_population", "population", "weighted_population")


def disclose(frame: pd.DataFrame, threshold: int | None = None) -> pd.DataFrame:
    """A copy with patient-count columns at or below the threshold (setting disclosure_threshold) blanked,
    and, in a table of groups (a `practices` column), every figure of a group of fewer practices than the
    disclosure_min_group setting: a group of one is a practice, named by the group's label."""
    k = config.get("disclosure_threshold") if threshold is None else threshold
    out = frame.copy()
    for col in PATIENT_COUNT_COLUMNS:
        if col in out.columns:
            out[col] = primary_suppress(out[col].astype(float), threshold=k,
                                        suppress_zeros=config.get("suppress_zeros"))
    if "practices" in out.columns:
        small = out["practices"].to_numpy() < int(config.get("disclosure_min_group"))
        if small.any():
            figures = [c for c in out.columns if c != "practices" and pd.api.types.is_float_dtype(out[c])
                       or c in PATIENT_COUNT_COLUMNS]
            for column in figures:  # column by column on arrays: a .loc assignment costs ten times more
                values = out[column].to_numpy(dtype=float, na_value=np.nan, copy=True)
                values[small] = np.nan
                out[column] = values
    return out


def whole_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Count columns (patients, practices) that disclosure made float written as whole numbers, suppressed
    cells still blank: a file should say 13634, not 13634.0. A weighted population keeps its decimals."""
    out = None
    for column in (*PATIENT_COUNT_COLUMNS, "practices"):
        if column in frame.columns and pd.api.types.is_float_dtype(frame[column]):
            values = frame[column].to_numpy(dtype=float, na_value=np.nan)
            present = values[~np.isnan(values)]
            if np.array_equal(present, np.round(present)):
                out = frame.copy() if out is None else out
                out[column] = pd.array(values, dtype="Int64")  # NaN becomes a missing (blank) cell
    return frame if out is None else out


def write_tables(tables: dict[str, pd.DataFrame], out: Path | str) -> list[Path]:
    """Write named tables after disclosure control: one Excel workbook (one sheet per table) when `out`
    ends in .xlsx, else a folder of CSV files. Returns the files written. No text cell can run as a
    formula when the file is opened in a spreadsheet (gpcluster.exports.spreadsheet_safe)."""
    # imported here: keeps `gpcluster --help` light
    from gpcluster.exports import CSV_LINE_END, EXCEL_WRITER_OPTIONS, spreadsheet_safe

    out = Path(out)
    safe = {name: spreadsheet_safe(whole_counts(disclose(frame))) for name, frame in tables.items()}
    if out.suffix.lower() == ".xlsx":
        out.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(out, engine="xlsxwriter", engine_kwargs=EXCEL_WRITER_OPTIONS) as writer:
            for name, frame in safe.items():
                frame.to_excel(writer, sheet_name=name[:31], index=False)
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in safe.items():
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False, encoding="utf-8", lineterminator=CSV_LINE_END)
        written.append(path)
    return written
