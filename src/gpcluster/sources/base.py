"""The shared mechanism every source module uses: read a CSV faithfully (UTF-8 with or without BOM,
CKAN's `_id` column, column-name variants), and collect validation Problems instead of stopping."""

from __future__ import annotations

import calendar
import csv
import functools
import hashlib
import io
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from gpcluster.errors import Problem, UserError

LINE = "_line"  # 1-based line number in the source file (header = line 1), kept through reshaping
# A file of this name sits beside every synthetic file set (written by gpcluster.synthetic.writer); here so the
# loader can look for it without importing the synthetic generator (a tenth of a second).
SYNTHETIC_MARKER = "SYNTHETIC"

CODE_PATTERNS = {
    "board": re.compile(r"^S08\d{6}$"),
    "hscp": re.compile(r"^S37\d{6}$"),
    "data_zone": re.compile(r"^S01\d{6}$"),
    "intermediate_zone": re.compile(r"^S02\d{6}$"),
    "council": re.compile(r"^S12\d{6}$"),
}
PRACTICE_CODE = re.compile(r"^\d{1,5}$")
LARGEST_COUNT = 2**31 - 1  # the warehouse's INTEGER columns


def name_key(path: Path) -> str:
    """A file name compared without case, punctuation or suffix: 'practice_listsizes_apr2024-open-data'."""
    return re.sub(r"[^a-z0-9]", "", path.stem.lower())


@functools.lru_cache(maxsize=8192)  # a wide file matches ~95 columns against ~95 names: 9,000 calls
def header_key(name: str) -> str:
    """Column names compare case- and punctuation-insensitively: 'Ages85Plus' == 'ages85plus'."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class Column:
    """A column as gpcluster names it, and the names different releases give it."""

    name: str
    variants: tuple[str, ...] = ()
    required: bool = True

    def accepted_keys(self) -> frozenset[str]:
        return _accepted_keys(self.name, self.variants)


@functools.lru_cache(maxsize=4096)
def _accepted_keys(name: str, variants: tuple[str, ...]) -> frozenset[str]:
    return frozenset({header_key(name), *(header_key(v) for v in variants)})


@dataclass
class RawTable:
    """A CSV read as text, columns renamed to canonical names; `problems` holds reading problems."""

    path: Path
    sha256: str
    frame: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)

    @property
    def file(self) -> str:
        return self.path.name

    def problem(self, kind: str, message: str, row: int | None = None, column: str | None = None) -> None:
        self.problems.append(Problem(self.file, kind, message, row, column))


@dataclass(frozen=True)
class Unpivot:
    """How a wide reading becomes long rows: each of `columns` (named by its label, e.g. an age) becomes a
    row of (`name` = the label, `value` = the cell); a missing (suppressed) cell becomes no row.
    `name_type` is the SQL type of the label column ("INTEGER" for single years of age)."""

    columns: tuple[str, ...]
    name: str
    value: str
    name_type: str = "VARCHAR"


@dataclass
class Reading:
    """A validated table ready for the warehouse. `frame` keeps the `_line` column. With `unpivot`, `frame`
    is the file's wide table (checked, one column per label) and the warehouse writer unpivots it in SQL;
    `tidy()` gives the long rows in pandas."""

    source: str
    path: Path
    sha256: str
    frame: pd.DataFrame
    problems: list[Problem]
    row_count: int
    release_date: date | None = None
    unpivot: Unpivot | None = None

    def tidy(self) -> pd.DataFrame:
        """One row per fact: the frame itself, or the wide frame unpivoted (row by row, label by label)."""
        if self.unpivot is None:
            return self.frame
        spec = self.unpivot
        ids = [c for c in self.frame.columns if c not in spec.columns and c != LINE]
        values = self.frame[list(spec.columns)].to_numpy(dtype="float64", na_value=np.nan)
        rows, cells = np.nonzero(~np.isnan(values))
        long = self.frame[ids].iloc[rows].reset_index(drop=True)
        labels = np.array(spec.columns, dtype=object)[cells]
        long[spec.name] = labels.astype(int) if spec.name_type == "INTEGER" else labels
        long[spec.value] = values[rows, cells].astype(np.int64)
        long[LINE] = self.frame[LINE].to_numpy()[rows]
        return long


@dataclass(frozen=True)
class StreamedFile:
    """What a source's own streaming loader did with one file."""

    path: Path
    rows: int
    release_date: date | None
    skipped: str | None = None


class PartialLoad(UserError):
    """A streaming loader refused some files (each changed nothing) after loading others (`loaded`)."""

    def __init__(self, message: str, loaded: list[StreamedFile]):
        super().__init__(message)
        self.loaded = loaded


@dataclass(frozen=True)
class Source:
    """One external source: where it comes from, what its files look like, how to read them."""

    name: str
    title: str
    publisher: str
    columns: tuple[Column, ...]
    parse: Callable[[RawTable, date | None], Reading]
    dataset_id: str | None = None
    resource_ids: dict[str, str] = field(default_factory=dict)  # label (e.g. release) -> CKAN resource id
    all_resources: bool = False  # sync every CSV resource of the dataset (a release series)
    target: str = ""
    # What this source's files are called (regex on the lower-case name without punctuation); a file named
    # like another source's files is refused rather than loaded as whatever its header resembles.
    file_names: str | None = None
    # sync only resources whose CKAN name matches (a dataset that mixes several series of files)
    resource_name: str | None = None
    # files too large for the pandas reader: the source loads them itself, streamed (see StreamedFile)
    stream_load: Callable[..., list[StreamedFile]] | None = None

    def named_like(self, path: Path) -> bool:
        return self.file_names is not None and re.search(self.file_names, name_key(path)) is not None

    def match_score(self, header: Iterable[str]) -> float:
        """Share of this source's required columns present in `header` (0..1)."""
        keys = {header_key(h) for h in header}
        required = [c for c in self.columns if c.required]
        return sum(1 for c in required if c.accepted_keys() & keys) / len(required)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_csv(path: Path, columns: tuple[Column, ...], data: bytes | None = None) -> RawTable:
    """Read `path` as UTF-8 CSV (BOM optional) into strings, renaming known column variants.

    Problems found: empty file, not UTF-8, ragged or truncated rows, missing required columns.
    """
    data = path.read_bytes() if data is None else data
    raw = RawTable(path, sha256_of(data), pd.DataFrame())
    if not data.strip():
        raw.problem("empty_file", "the file is empty")
        return raw
    binary = data.find(b"\x00")
    if binary >= 0:
        raw.problem("binary", "not a text CSV file (it holds binary data, e.g. a spreadsheet or an archive): "
                    "export it as CSV first", row=data.count(b"\n", 0, binary) + 1)
        return raw
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raw.problem(
            "encoding",
            f"not UTF-8 (byte 0x{data[exc.start]:02X}; probably Latin-1/Windows-1252): re-save the file as UTF-8",
            row=line,
        )
        return raw
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    try:
        frame, uniform = _parse(data, text, delimiter)
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        found = re.search(r"line (\d+)", str(exc))
        raw.problem("malformed_row", f"cannot parse CSV: {exc}", row=int(found.group(1)) if found else None)
        return raw
    except pd.errors.EmptyDataError:
        raw.problem("empty_file", "the file has no header row")
        return raw
    width = len(frame.columns)
    frame = frame.drop(columns=[c for c in frame.columns if header_key(c) == "id" and c.startswith("_")])
    lines, widths = _row_shapes(text, len(frame), delimiter, width if uniform else None)
    frame[LINE] = lines
    if frame.empty:
        raw.problem("empty_file", "the file has a header but no data rows", row=1)
    short = (widths >= 0) & (widths < width)
    for line, fields in zip(lines[short][:20], widths[short][:20], strict=False):
        raw.problem("truncated_row", f"row has {fields} of the header's {width} fields (truncated file?)",
                    row=int(line))
    extra = widths > width
    for line, fields in zip(lines[extra][:20], widths[extra][:20], strict=False):
        raw.problem("malformed_row", f"row has {fields} fields but the header has {width}", row=int(line))
    names = frame.columns.tolist()  # once: iterating an Arrow-backed Index builds each name anew
    keys = [header_key(c) for c in names]
    canonical = {LINE: LINE}  # gpcluster's name -> the file's column
    for column in columns:
        accepted = column.accepted_keys()
        found = [c for c, key in zip(names, keys, strict=True) if key in accepted]
        if found:
            canonical[column.name] = found[0]
        elif column.required:
            raw.problem("missing_column", f"required column {column.name!r} is missing", row=1, column=column.name)
    others = [c for c in names if c not in canonical]  # e.g. the QF flags, kept under their own names
    position = {c: i for i, c in enumerate(names)}
    # one selection of the file's columns, renamed: a frame built from a dict of 190 Series cost more
    raw.frame = frame.iloc[:, [position[c] for c in [*canonical.values(), *others]]].set_axis(
        [*canonical, *others], axis=1)
    return raw


def _parse(data: bytes, text: str, delimiter: str) -> tuple[pd.DataFrame, bool]:
    """Every cell as text, and whether every row is known to have the header's width. Arrow's multi-threaded
    reader takes a well-formed file (the usual case, 4-5 times faster) and refuses a row of any other width;
    anything it refuses goes to pandas' C parser, whose tolerance lets the row checks below report each bad
    row."""
    options = dict(sep=delimiter, dtype=str, keep_default_na=False, na_values=[], skip_blank_lines=True)
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        frame = _arrow_text(body, text, delimiter)
        if frame is not None:
            return frame, True
        frame = pd.read_csv(io.BytesIO(body), engine="pyarrow", **options)
        if len(set(frame.columns)) == len(frame.columns):
            return frame, True
    except (pa.ArrowInvalid, ValueError, pd.errors.ParserError):
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.ParserWarning)  # extra fields are reported by the caller
        return pd.read_csv(io.StringIO(text), quoting=csv.QUOTE_MINIMAL, index_col=False, **options), False


def _arrow_text(body: bytes, text: str, delimiter: str) -> pd.DataFrame | None:
    """What pandas' pyarrow engine gives (every cell as text, nothing missing), read by Arrow itself: pandas'
    per-column handling of its result cost as much as Arrow's parse (189 columns in the data-zone file).
    None when a column name is blank or held twice, or a column was not read as text (a header line the csv
    module splits otherwise): the caller then reads as before."""
    try:
        names = next(csv.reader(io.StringIO(text.split("\n", 1)[0].rstrip("\r")), delimiter=delimiter), [])
    except csv.Error:
        return None
    table = pa_csv.read_csv(io.BytesIO(body), parse_options=pa_csv.ParseOptions(delimiter=delimiter),
                            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                                  strings_can_be_null=False))
    names = table.column_names
    if len(set(names)) != len(names) or "" in names or not all(pa.types.is_string(t) for t in table.schema.types):
        return None  # pandas names a blank column 'Unnamed: <i>'; two of a name go to the C parser
    return table.to_pandas()


def _row_shapes(text: str, n_rows: int, delimiter: str, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Line number and field count of each data row, allowing for quoted newlines and blank lines. `width`:
    every row is known to have this many fields (Arrow read the file); then when the file has one line per
    row (no blank lines, no quoted newlines) the shapes need no scan of the rows."""
    if width is not None and text.count("\n") + (not text.endswith("\n")) == n_rows + 1:
        return np.arange(2, n_rows + 2), np.full(n_rows, width)
    if '"' not in text:  # no quoting: a row is a line, and its fields are its delimiters plus one
        counts = np.array([line.count(delimiter) + 1 if line.strip("\r") else 0 for line in text.split("\n")[1:]])
        lines = np.flatnonzero(counts) + 2
        if len(lines) == n_rows:
            return lines, counts[counts > 0]
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    lines, widths = [], []
    try:
        next(reader, None)
        previous = reader.line_num
        for row in reader:
            if row:
                lines.append(previous + 1)
                widths.append(len(row))
            previous = reader.line_num
    except csv.Error:
        lines = []
    if len(lines) != n_rows:  # the csv module and pandas disagree: fall back to one row per line
        return np.arange(2, n_rows + 2), np.full(n_rows, -1)
    return np.array(lines, dtype=int), np.array(widths, dtype=int)


# ---- value checks: each returns clean values and records Problems against file/row/column ------------

def to_int(raw: RawTable, column: str, *, minimum: int | None = 0, maximum: int | None = LARGEST_COUNT,
           allow_blank: bool | pd.Series = False) -> pd.Series:
    """Integers from a text column; non-numbers and out-of-range values become Problems (and missing).

    `allow_blank` (everywhere, or a per-row mask) lets blanks through as missing values. The default
    `maximum` is the largest value the warehouse's INTEGER columns hold."""
    text = raw.frame[column].fillna("")
    plain = _plain_ints(text, minimum, maximum)
    if plain is not None:
        return plain
    try:  # fast path: a clean column casts in one Arrow call
        numbers = pd.Series(pc.cast(pa.array(text, type=pa.string()), pa.float64()).to_numpy(
            zero_copy_only=False), index=text.index)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        numbers = pd.to_numeric(text, errors="coerce").astype(float)
    failed = numbers.isna()
    if failed.any():  # the slow path only for cells that are not plain numbers: spaces, '1,234', blanks
        text = text.copy()
        text[failed] = text[failed].str.strip().str.replace(",", "", regex=False)
        numbers[failed] = pd.to_numeric(text[failed].where(text[failed] != ""), errors="coerce")
    whole = numbers.notna() & np.isfinite(numbers.fillna(0)) & (numbers == np.floor(numbers.fillna(0)))
    bad = ~whole & ((text != "") | ~pd.Series(allow_blank, index=text.index, dtype=bool))
    for line, value in zip(raw.frame.loc[bad, LINE].head(20), text[bad].head(20), strict=False):
        raw.problem("not_integer", f"expected a whole number, got {value!r}", row=int(line), column=column)
    out = pd.Series(False, index=text.index)
    if minimum is not None or maximum is not None:
        lo = numbers < minimum if minimum is not None else False
        hi = numbers > maximum if maximum is not None else False
        out = whole & (lo | hi)
        shown = (f"{minimum}..{maximum}" if minimum is not None and maximum is not None
                 else f"at least {minimum}" if minimum is not None else f"at most {maximum}")
        for line, value in zip(raw.frame.loc[out, LINE].head(20), text[out].head(20), strict=False):
            raw.problem("out_of_range", f"{value} is outside {shown}", row=int(line), column=column)
    return numbers.where(whole & ~out).astype("Int64")


def _plain_ints(text: pd.Series, minimum: int | None, maximum: int | None) -> pd.Series | None:
    """to_int's result when every cell is plain ASCII digits within minimum..maximum (nothing to report):
    one Arrow cast and one min_max instead of a dozen pandas operations per column. None otherwise."""
    array = pa.array(text)
    if not pc.all(pc.ascii_is_decimal(array)).as_py():  # also refuses '', '0x10', '-3', ' 5', '1.0'
        return None
    try:
        numbers = pc.cast(array, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # more digits than int64 holds
        return None
    low, high = (v.as_py() for v in pc.min_max(numbers).values())
    if (minimum is not None and low < minimum) or (maximum is not None and high > maximum) or high > 2**53:
        return None  # to_int reports it (and reads through float64, exact only up to 2**53)
    values = numbers.to_numpy(zero_copy_only=False)
    return pd.Series(pd.arrays.IntegerArray(values, np.zeros(len(values), dtype=bool)), index=text.index)


def plain_counts(raw: RawTable, columns: list[str], allow_blank: dict[str, pd.Series] | None = None
                 ) -> np.ndarray | None:
    """`columns` as one float64 block (rows x columns) when every cell is a whole number in 0..LARGEST_COUNT
    or a blank that `allow_blank` (column -> per-row mask) lets through (NaN); None otherwise, so the caller
    checks column by column and reports each problem (to_int). Wide PHS tables (90+ age columns) are almost
    always clean, apart from cells PHS suppressed.

    Each column whose cells are all plain digits is cast to integers in one Arrow call (anything else, a
    '1.0', ' 5' or '1e3', goes to to_int, which reads it the same way) and range-checked on its own: no
    whole-block temporaries, whose fresh memory cost more than the checks (a 15 MB block for data zones)."""
    block = np.empty((len(raw.frame), len(columns)), dtype="float64", order="F")  # filled column by column
    try:
        for j, column in enumerate(columns):
            text = pa.array(raw.frame[column])
            allowed = None  # the rows where a missing cell is allowed: only in a column with a blank
            if allow_blank is not None and column in allow_blank:
                blank = pc.equal(text, "")
                if pc.any(blank).as_py():
                    text = pc.if_else(blank, pa.scalar(None, text.type), text)  # NULL: NaN below
                    allowed = np.asarray(allow_blank[column], dtype=bool)
            if not pc.all(pc.ascii_is_decimal(text)).as_py():  # Arrow's cast would also read '0x10', '-3'
                return None
            numbers = pc.cast(text, pa.int64())
            if numbers.null_count and (allowed is None or (np.asarray(numbers.is_null()) & ~allowed).any()):
                return None
            if len(numbers) and numbers.null_count < len(numbers):
                low, high = pc.min_max(numbers).values()
                if low.as_py() < 0 or high.as_py() > LARGEST_COUNT:
                    return None
            block[:, j] = numbers.to_numpy(zero_copy_only=False)  # NULL -> NaN
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        return None
    return block


def to_float(raw: RawTable, column: str) -> pd.Series:
    text = raw.frame[column].fillna("").str.strip()
    numbers = pd.to_numeric(text.where(text != ""), errors="coerce").astype(float)
    bad = ~np.isfinite(numbers.fillna(np.inf))
    for line, value in zip(raw.frame.loc[bad, LINE].head(20), text[bad].head(20), strict=False):
        raw.problem("not_number", f"expected a finite number, got {value!r}", row=int(line), column=column)
    return numbers.where(~bad)


def suppressed(raw: RawTable, column: str) -> pd.Series:
    """Rows where PHS's quality flag column (<column>QF) marks the value confidential ('c')."""
    return suppression_flags(raw, [column]).get(column, pd.Series(False, index=raw.frame.index))


def suppression_flags(raw: RawTable, columns: list[str]) -> dict[str, pd.Series]:
    """`suppressed` for each of `columns` that has a quality flag column (the others have none), the file's
    column names keyed once rather than once per column."""
    flag_columns: dict[str, str] = {}
    for name in raw.frame.columns.tolist():
        flag_columns.setdefault(header_key(name), name)  # the first column of that name, as before
    found = {column: flag_columns.get(header_key(column) + "qf") for column in columns}
    return {column: _flagged(raw.frame[flag]) for column, flag in found.items() if flag is not None}


def _flagged(flag: pd.Series) -> pd.Series:
    """`flag.fillna("").str.strip().str.lower() == "c"`; for Arrow-backed text (every column read_csv makes)
    in three Arrow calls, the functions pandas calls for it, without its per-operation wrapping (a list-size
    file has 20 flag columns)."""
    if not (isinstance(flag.dtype, pd.StringDtype) and flag.dtype.storage == "pyarrow"):
        return flag.fillna("").str.strip().str.lower() == "c"
    flagged = pc.equal(pc.utf8_lower(pc.utf8_trim_whitespace(pa.array(flag))), "c").fill_null(False)
    return pd.Series(flagged.to_numpy(zero_copy_only=False), index=flag.index, name=flag.name)


def codes(raw: RawTable, column: str, kind: str, *, allow_blank: bool = False) -> pd.Series:
    """Geography codes checked against their format (S08 board, S37 HSCP, S01 data zone ...)."""
    text = raw.frame[column].fillna("").str.strip().str.upper()
    if _all_match(text, CODE_PATTERNS[kind].pattern) and not CODE_PATTERNS[kind].match(""):
        return text  # nothing to report, and no blank to make missing
    ok = text.str.match(CODE_PATTERNS[kind].pattern) | ((text == "") & allow_blank)
    for line, value in zip(raw.frame.loc[~ok, LINE].head(20), text[~ok].head(20), strict=False):
        raw.problem("bad_code", f"{value!r} is not a {kind.replace('_', ' ')} code "
                    f"({CODE_PATTERNS[kind].pattern})", row=int(line), column=column)
    return text.where(text != "")


def _all_match(text: pd.Series, pattern: str) -> bool:
    """Whether every value matches `pattern` (as re.match would), asked of Arrow's regex engine (RE2) in one
    call, only for ASCII text (RE2's \\d is ASCII-only, Python's is not; where RE2 says no, e.g. its $ before a
    trailing newline, the caller checks value by value as before): pandas' str.match checks the pattern and
    the data for such differences on every call, half the cost of a code column's checks."""
    array = pa.array(text)
    return len(array) > 0 and pc.all(pc.string_is_ascii(array)).as_py() and pc.all(
        pc.match_substring_regex(array, pattern)).as_py()


def practice_codes(raw: RawTable, column: str = "PracticeCode") -> pd.Series:
    """Practice codes as 5-digit text ('10002'); files often carry them as integers ('1002' -> '01002')."""
    text = raw.frame[column].fillna("").str.strip().str.replace(r"\.0$", "", regex=True)
    ok = text.str.match(PRACTICE_CODE.pattern)
    for line, value in zip(raw.frame.loc[~ok, LINE].head(20), text[~ok].head(20), strict=False):
        raw.problem("bad_code", f"{value!r} is not a practice code (up to 5 digits)", row=int(line), column=column)
    return text.str.zfill(5)


def sexes(raw: RawTable, column: str = "Sex", also: tuple[str, ...] = ()) -> pd.Series:
    """Sex normalised to Male/Female/All (plus any values in `also`, e.g. 'Unknown')."""
    text = raw.frame[column].fillna("").str.strip().str.capitalize()
    text = text.replace({"M": "Male", "F": "Female", "Persons": "All", "Total": "All"})
    allowed = ["Male", "Female", "All", *also]
    bad = ~text.isin(allowed)
    for line, value in zip(raw.frame.loc[bad, LINE].head(20), text[bad].head(20), strict=False):
        raw.problem("bad_value", f"sex must be one of {', '.join(allowed)}, got {value!r}", row=int(line),
                    column=column)
    return text


def duplicates(raw: RawTable, frame: pd.DataFrame, keys: list[str], what: str) -> None:
    """Every row after the first with the same key is a Problem."""
    dup = frame.duplicated(subset=keys, keep="first")
    for _, row in frame.loc[dup].head(20).iterrows():
        key = ", ".join(f"{k}={row[k]}" for k in keys)
        raw.problem("duplicate", f"duplicate {what} ({key})", row=int(row[LINE]))


def yyyymmdd(raw: RawTable, column: str) -> pd.Series:
    text = raw.frame[column].fillna("").str.strip().str.replace("-", "", regex=False)
    parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    for line, value in zip(raw.frame.loc[parsed.isna(), LINE].head(20), text[parsed.isna()].head(20),
                           strict=False):
        raw.problem("bad_date", f"expected a date YYYYMMDD, got {value!r}", row=int(line), column=column)
    return parsed.dt.date


_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}


def date_from_filename(path: Path) -> date | None:
    """Release date from names like 'practice_contactdetails_apr2024-open-data.csv' or '..._2024-04-01.csv'."""
    name = path.stem.lower()
    found = re.search(r"(\d{4})-?(\d{2})-?(\d{2})(?!\d)", name)
    if found:
        try:
            return date(int(found[1]), int(found[2]), int(found[3]))
        except ValueError:
            pass
    found = re.search(r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[-_ ]?(\d{4})", name)
    if found:
        return date(int(found[2]), _MONTHS[found[1]], 1)
    found = re.search(r"(?<!\d)(\d{4})-(\d{2})(?!\d)", name)
    if found and 1 <= int(found[2]) <= 12:
        return date(int(found[1]), int(found[2]), 1)
    return None


def release_date_of(raw: RawTable, given: date | None) -> date | None:
    """The release date from the `Date` column, else the file name, else the fallback `given`.

    The Date column and the file name must agree when both state a release (to the month, since PHS names
    releases 'apr2024'): a file named for one release holding another is refused, not loaded as either."""
    named = date_from_filename(raw.path)
    if "Date" in raw.frame.columns and not raw.frame.empty:
        parsed = yyyymmdd(raw, "Date")
        dates = sorted(set(parsed.dropna()))
        if len(dates) > 1:
            raw.problem("mixed_dates", f"one release per file expected, found {len(dates)} dates", column="Date")
        found = dates[0] if dates else None
        if found is not None and named is not None and (found.year, found.month) != (named.year, named.month):
            line = int(raw.frame[LINE].iloc[0])
            raw.problem("release_mismatch", f"the Date column says {found:%Y-%m-%d} but the file name says "
                        f"{named:%b %Y}: check it is the right release, or rename the file", row=line, column="Date")
        return found
    found = named or given  # `given` (--release-date) only fills in a release the file does not state
    if found is None:
        raw.problem("no_release_date", "cannot tell the release date: the file has no Date column and its name "
                    "has no date (e.g. apr2024 or 2024-04-01); pass --release-date")
    return found


def reading(source: Source, raw: RawTable, frame: pd.DataFrame, release: date | None = None,
            unpivot: Unpivot | None = None) -> Reading:
    return Reading(source.name, raw.path, raw.sha256, frame, raw.problems, len(raw.frame), release, unpivot)


def usable(raw: RawTable) -> bool:
    """False when reading already failed so badly that value checks would only add noise."""
    return not any(p.kind in {"empty_file", "binary", "encoding", "malformed_row", "missing_column"}
                   for p in raw.problems)
