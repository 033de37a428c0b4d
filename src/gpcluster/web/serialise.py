"""Released tables as JSON records, CSV and Excel (suppressed cells blank / null, synthetic data marked)."""

from __future__ import annotations

import io
import math
from datetime import date, datetime

import numpy as np
import pandas as pd

from gpcluster.exports import CSV_LINE_END, EXCEL_WRITER_OPTIONS, SYNTHETIC_NOTE, spreadsheet_safe

SUPPRESSION_NOTE = ("Counts at or below the disclosure threshold are suppressed (blank), with the values that "
                    "would reveal them. Practices outside your access scope are pseudonymised.")


def json_value(value):
    """One cell as JSON has it: None for any missing value, Python numbers, dates as ISO strings."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    """JSON-safe list of row dicts: NaN becomes null, dates ISO strings."""
    columns = list(frame.columns)
    return [{c: json_value(v) for c, v in zip(columns, row, strict=True)}
            for row in frame.itertuples(index=False, name=None)]


def csv_bytes(frame: pd.DataFrame, synthetic: bool) -> bytes:
    """CSV, spreadsheet-safe; synthetic data carry a leading `synthetic` column set to true on every row."""
    frame = spreadsheet_safe(frame)
    if synthetic:
        frame.insert(0, "synthetic", True)
    return frame.to_csv(index=False, lineterminator=CSV_LINE_END).encode("utf-8")


def excel_bytes(frame: pd.DataFrame, synthetic: bool, sheet: str = "data") -> bytes:
    """An .xlsx workbook (spreadsheet-safe): the table and an 'about' sheet with the notes."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="xlsxwriter", engine_kwargs=EXCEL_WRITER_OPTIONS) as writer:
        spreadsheet_safe(frame).to_excel(writer, sheet_name=sheet[:31], index=False)
        notes = ([SYNTHETIC_NOTE] if synthetic else []) + [SUPPRESSION_NOTE]
        pd.DataFrame({"notes": notes}).to_excel(writer, sheet_name="about", index=False)
    return buffer.getvalue()
