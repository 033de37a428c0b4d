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
    """JSON-safe list of row dicts: NaN becomes null, dates ISO strings (each cell as `json_value` makes
    it). Converted a column at a time (an API table of a practice is about 50,000 cells: calling
    `json_value` on each was most of the time it took to serve)."""
    columns = list(frame.columns)
    values = [_json_column(frame.iloc[:, i]) for i in range(len(columns))]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)] if columns else \
        [{} for _ in range(len(frame))]


def _json_column(column: pd.Series) -> list:
    """One column's cells as `json_value` gives them."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype):
        array = column.to_numpy()
        if dtype.kind == "f":
            out = array.astype(object)
            out[np.isnan(array)] = None
            return out.tolist()  # Python floats (also from float32), None for NaN
        if dtype.kind in "iub":
            return array.tolist()  # Python int and bool, as json_value gives them
        if dtype.kind == "M":
            text = np.datetime_as_string(array, unit="D").astype(object)
            text[np.isnat(array)] = None
            return text.tolist()
    # anything else (text, dates as Python objects, mixed): cell by cell, the common kinds without a call
    return [_OBJECT_CELL[type(v)](v) if type(v) in _OBJECT_CELL else json_value(v) for v in column.tolist()]


#: json_value of the Python objects a released text or date column holds, by exact type
_OBJECT_CELL = {str: lambda v: v, float: lambda v: None if math.isnan(v) else v, date: date.isoformat,
                type(None): lambda v: None}


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
