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
from datetime import date
from pathlib import Path

import pandas as pd

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


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    name = str(path)
    if not path.exists():
        raise ValidationFailed([Problem(name, "missing", "file not found")])
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises several unrelated types for a bad workbook
            raise ValidationFailed([Problem(name, "unreadable", f"not a readable Excel file: {exc}")]) from exc
        sheet = book["roster"] if "roster" in book.sheetnames else book.worksheets[0]
        rows = [["" if v is None else (v.date().isoformat() if hasattr(v, "date") and callable(v.date) else str(v))
                 for v in row] for row in sheet.iter_rows(values_only=True)]
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
