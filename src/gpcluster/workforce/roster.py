"""The MDT roster: one row per post, read from the documented CSV or Excel template and validated as a
whole. Every problem (file, row, column) is reported at once and nothing is returned when any exists.

Template columns (see docs/workforce.md and templates/roster_template.csv):
post_id, role, wte, employer, base, practice_sessions, start_date, end_date, line_manager,
gp_supervision_hours_per_week. `practice_sessions` lists the practices a post works in and its sessions
per week in each, e.g. "10002:3; 10017:2"."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd

from gpcluster import config
from gpcluster.errors import Problem, ValidationFailed
from gpcluster.workforce.params import Assumptions, load_assumptions
from gpcluster.workforce.roles import ROLES

TEMPLATE_DIR = Path(__file__).parent / "templates"
COLUMNS = [
    "post_id", "role", "wte", "employer", "base", "practice_sessions", "start_date", "end_date",
    "line_manager", "gp_supervision_hours_per_week",
]
REQUIRED = ["post_id", "role", "wte", "employer", "practice_sessions", "start_date"]
POST_COLUMNS = [c for c in COLUMNS if c != "practice_sessions"]
SESSION_COLUMNS = ["post_id", "practice_code", "sessions_per_week"]
#: control characters (C0, DEL, C1) and the bidirectional overrides that make text display differently from
#: what it contains; none belongs in a roster, and they would be echoed into pages and downloads
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def template_path(xlsx: bool = False) -> Path:
    """The shipped roster template (CSV or Excel)."""
    return TEMPLATE_DIR / ("roster_template.xlsx" if xlsx else "roster_template.csv")


_XML_ROW = re.compile(rb"<(?:\w+:)?row[\s>/]")


def _xlsx_size(path: Path, max_bytes: int, max_rows: int) -> tuple[int, int]:
    """(unpacked bytes of the workbook, most rows in any sheet), reading at most `max_bytes` + 1
    decompressed bytes and stopping once a sheet has more than `max_rows` rows: a small file can unpack
    to gigabytes or hold millions of empty rows."""
    with zipfile.ZipFile(path) as book:
        declared = sum(info.file_size for info in book.infolist())
        if declared > max_bytes:
            return declared, 0
        unpacked, most_rows = 0, 0
        for info in book.infolist():
            if not (info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")):
                continue
            rows, tail = 0, b""
            with book.open(info) as stream:
                while chunk := stream.read(1 << 20):
                    unpacked += len(chunk)
                    if unpacked > max_bytes:  # the sizes declared in the zip were false
                        return unpacked, most_rows
                    text = tail + chunk
                    cut = max(0, len(text) - 16)  # a tag split across chunks is counted in the next one
                    rows += sum(1 for m in _XML_ROW.finditer(text) if m.start() < cut)
                    tail = text[cut:]
                    if rows > max_rows:
                        return unpacked, rows
            rows += len(_XML_ROW.findall(tail))
            most_rows = max(most_rows, rows)
        return declared, most_rows


def check_size(path: Path) -> None:
    """Refuse a roster file with more rows than `upload_max_rows` or an Excel file unpacking to more
    than `upload_max_unpacked_mb`, before any parser reads it."""
    name = path.name
    max_rows, max_mb = int(config.get("upload_max_rows")), float(config.get("upload_max_unpacked_mb"))
    max_bytes = int(max_mb * 1_000_000)
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        try:
            unpacked, rows = _xlsx_size(path, max_bytes, max_rows + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:  # zlib errors are ValueErrors too
            raise ValidationFailed([Problem(name, "unreadable", f"not a readable Excel file: {exc}")]) from exc
        if unpacked > max_bytes:
            raise ValidationFailed([Problem(name, "too_large", f"the workbook unpacks to more than {max_mb:g} MB "
                                            "(setting upload_max_unpacked_mb); save only the roster sheet, "
                                            "without formatting, and upload that")])
    else:
        with path.open("rb") as handle:
            rows = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    if rows > max_rows + 1:  # and the header
        raise ValidationFailed([Problem(name, "too_many_rows", f"{rows:,} rows is more than the {max_rows:,} a "
                                        "roster may have (setting upload_max_rows); delete empty rows at the "
                                        "end of the sheet, or split the file")])


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    name = str(path)
    if not path.exists():
        raise ValidationFailed([Problem(name, "missing", "file not found")])
    check_size(path)
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises several unrelated types for a bad workbook
            raise ValidationFailed([Problem(name, "unreadable", f"not a readable Excel file: {exc}")]) from exc
        sheet = book["roster"] if "roster" in book.sheetnames else book.worksheets[0]
        sheet.reset_dimensions()  # read the rows that are there, whatever the file says its size is
        max_rows, rows = int(config.get("upload_max_rows")), []
        for row in sheet.iter_rows(values_only=True):  # gaps in row numbers come back as empty rows
            if len(rows) > max_rows:
                book.close()
                raise ValidationFailed([Problem(path.name, "too_many_rows", f"more than the {max_rows:,} rows a "
                                                "roster may have (setting upload_max_rows); delete empty rows "
                                                "at the end of the sheet, or split the file")])
            rows.append(["" if v is None else (v.date().isoformat() if hasattr(v, "date") and callable(v.date)
                                               else str(v)) for v in row])
        book.close()
    else:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ValidationFailed([Problem(name, "encoding", f"not UTF-8 (byte 0x{raw[exc.start]:02x}); "
                                            "save the file as 'CSV UTF-8'", row=line)]) from exc
        rows = list(csv.reader(io.StringIO(text)))
    _refuse_control_characters(path.name, rows)
    rows = [r for r in rows if any(str(c).strip() for c in r)]
    if not rows:
        raise ValidationFailed([Problem(name, "empty", "the file has no header and no rows")])
    header = [str(c).strip() for c in rows[0]]
    return header, [[str(c).strip() for c in r] for r in rows[1:]]


def _refuse_control_characters(name: str, rows: list[list]) -> None:
    """ValidationFailed naming every cell (row, column) holding a control character."""
    header = [str(c).strip() for c in rows[0]] if rows else []
    problems = []
    for line, row in enumerate(rows, start=1):
        for position, cell in enumerate(row):
            found = CONTROL_CHARACTERS.search(str(cell))
            if found:
                column = header[position] if line > 1 and position < len(header) else f"column {position + 1}"
                problems.append(Problem(name, "control_character",
                                        f"contains the control character U+{ord(found.group()):04X}; type the "
                                        "value again without it (tabs, line breaks and invisible characters are "
                                        "not allowed)", line, column))
    if problems:
        raise ValidationFailed(problems)


def _parse_date(text: str, problems: list[Problem], name: str, line: int, column: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(Problem(name, "bad_date", f"{text!r} is not a date (use YYYY-MM-DD)", line, column))
        return None


def _parse_number(text: str, problems: list[Problem], name: str, line: int, column: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        problems.append(Problem(name, "not_a_number", f"{text!r} is not a number", line, column))
        return None
    if value < 0 or value != value:
        problems.append(Problem(name, "negative", f"must not be negative, got {text}", line, column))
        return None
    return value


def read_roster(path, known_practices=None, assumptions: Assumptions | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate a roster file. Returns (posts, sessions): posts has POST_COLUMNS, sessions has
    SESSION_COLUMNS. `known_practices` (a set of codes), when given, rejects unknown practice codes.
    Raises ValidationFailed listing every problem."""
    path = Path(path)
    name = path.name
    a = assumptions or load_assumptions()
    header, rows = _read_rows(path)
    problems: list[Problem] = []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    for c in missing:
        problems.append(Problem(name, "missing_column", "required column is missing", 1, c))
    for c in unknown:
        problems.append(Problem(name, "unknown_column", f"not a template column; expected {', '.join(COLUMNS)}", 1, c))
    if problems:
        raise ValidationFailed(problems)
    if not rows:
        raise ValidationFailed([Problem(name, "empty", "the file has a header but no posts", 1)])
    known = set(map(str, known_practices)) if known_practices is not None else None
    posts, sessions, seen = [], [], {}
    for i, values in enumerate(rows, start=2):
        rec = dict(zip(header, values + [""] * (len(header) - len(values)), strict=False))
        rec = {c: rec.get(c, "") for c in COLUMNS}
        for c in REQUIRED:
            if not rec[c]:
                problems.append(Problem(name, "blank", "required value is blank", i, c))
        pid = rec["post_id"]
        if pid:
            if pid in seen:
                problems.append(Problem(name, "duplicate_post", f"post_id {pid!r} already used on row {seen[pid]}", i, "post_id"))
            else:
                seen[pid] = i
        if rec["role"] and rec["role"] not in ROLES:
            problems.append(Problem(name, "unknown_role", f"{rec['role']!r} is not a role; use one of {', '.join(ROLES)}", i, "role"))
        wte = _parse_number(rec["wte"], problems, name, i, "wte") if rec["wte"] else None
        if wte is not None and wte > 1.5:
            problems.append(Problem(name, "wte_too_large", f"one post cannot exceed 1.5 WTE, got {wte}", i, "wte"))
        sup = (_parse_number(rec["gp_supervision_hours_per_week"], problems, name, i, "gp_supervision_hours_per_week")
               if rec["gp_supervision_hours_per_week"] else 0.0)
        start = _parse_date(rec["start_date"], problems, name, i, "start_date") if rec["start_date"] else None
        end = _parse_date(rec["end_date"], problems, name, i, "end_date") if rec["end_date"] else None
        if start and end and end < start:
            problems.append(Problem(name, "end_before_start", f"end_date {end} is before start_date {start}", i, "end_date"))
        total_sessions = 0.0
        for part in filter(None, (p.strip() for p in rec["practice_sessions"].split(";"))):
            code, sep, n = part.partition(":")
            code = code.strip()
            n_value = _parse_number(n.strip(), problems, name, i, "practice_sessions") if sep else None
            if not sep:
                problems.append(Problem(name, "bad_sessions", f"{part!r}: write practice_code:sessions, e.g. 10002:3", i, "practice_sessions"))
            elif known is not None and code not in known:
                problems.append(Problem(name, "unknown_practice", f"practice code {code!r} is not in the warehouse", i, "practice_sessions"))
            elif n_value is not None:
                total_sessions += n_value
                sessions.append({"post_id": pid, "practice_code": code, "sessions_per_week": n_value})
        if wte is not None and total_sessions * a.session_hours.value > wte * a.hours_per_wte.value + 1e-9:
            problems.append(Problem(name, "sessions_exceed_wte",
                                    f"{total_sessions:g} sessions a week need more than {wte:g} WTE", i, "practice_sessions"))
        posts.append({"post_id": pid, "role": rec["role"], "wte": wte, "employer": rec["employer"],
                      "base": rec["base"] or None, "start_date": start, "end_date": end,
                      "line_manager": rec["line_manager"] or None, "gp_supervision_hours_per_week": sup})
    if problems:
        raise ValidationFailed(problems)
    return pd.DataFrame(posts, columns=POST_COLUMNS), pd.DataFrame(sessions, columns=SESSION_COLUMNS)


def write_roster_csv(posts: pd.DataFrame, sessions: pd.DataFrame, out_path, for_spreadsheets: bool = False) -> Path:
    """Write posts and sessions in the template format (UTF-8 CSV), the inverse of read_roster.
    `for_spreadsheets` makes a file for people to open (gpcluster.exports.spreadsheet_safe): text that
    a spreadsheet would run as a formula gets a leading apostrophe."""
    out_path = Path(out_path)
    cells = (sessions.assign(cell=sessions["practice_code"].astype(str) + ":" + sessions["sessions_per_week"].map("{:g}".format))
             .groupby("post_id", sort=False)["cell"].agg("; ".join))
    frame = posts.copy()
    frame["practice_sessions"] = frame["post_id"].map(cells).fillna("")
    for col in ("start_date", "end_date"):
        frame[col] = frame[col].map(lambda d: "" if d is None or pd.isna(d) else pd.Timestamp(d).date().isoformat())
    frame = frame[COLUMNS]
    line_end = "\n"
    if for_spreadsheets:
        from gpcluster.exports import CSV_LINE_END, spreadsheet_safe

        frame, line_end = spreadsheet_safe(frame), CSV_LINE_END
    frame.to_csv(out_path, index=False, encoding="utf-8", float_format="%.4g", lineterminator=line_end)
    return out_path
