"""Transactional loading: validate every file first (all problems at once), then write everything in one
transaction, rebuild the derived tables and record each file in the load ledger. Any failure rolls
back, leaving the warehouse exactly as it was. A file whose sha256 is already in the ledger is skipped.

Every load writes a new warehouse version (gpcluster.warehouse.versions), published only when it has
succeeded, so loading while the web app serves never meets a lock and never shows half a load. Each file
is checked against what it declares: its name (a list-size file must hold list sizes), its release (Date
column, name and --release-date agree) and its provenance (synthetic files only into a synthetic
warehouse, and real files never into one)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from gpcluster.errors import Problem, UserError, ValidationFailed
from gpcluster.sources import SOURCES, detect_source, get_source, header_of, read_file
from gpcluster.sources.base import LINE, SYNTHETIC_MARKER, PartialLoad, Reading, sha256_of
from gpcluster.warehouse.connection import reference_codes
from gpcluster.warehouse.derived import rebuild_derived, refresh_data_zone_population
from gpcluster.warehouse.versions import new_version
from gpcluster.warehouse.writers import batches, write_readings

Progress = Callable[[str, int, int], None]  # (what is happening, steps done, total steps)
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
# Organisations and data zones first, so later facts in the same batch can be checked against them.
LOAD_ORDER = ["geography_boards", "geography_hscps", "geography_data_zones", "simd", "urban_rural",
              "data_zone_populations", "board_populations", "gp_practice_contact_details",
              "gp_practice_populations", "gp_headcount", "practice_activity", "reference_rates"]
SCOTLAND = "S92000003"
# What the derived tables (derived.py) are computed from: clusters, practices and events from the
# contact-details and list-size releases; each data zone's population from the data-zone tables. A batch of
# other files (headcount, board populations, activity ...) leaves them as they are, so they are not rebuilt.
PRACTICE_FACTS = {"gp_practice_contact_details", "gp_practice_populations"}
DATA_ZONE_FACTS = {"data_zone_populations", "simd", "urban_rural", "geography_data_zones"}
# Codes the synthetic generator uses precisely because they can never be real (see synthetic/README.md).
SYNTHETIC_CODES = {"data_zone": "S019", "postcode": "ZZ"}


@dataclass
class LoadedFile:
    path: Path
    source: str
    rows: int
    release_date: date | None


@dataclass
class LoadReport:
    """What a load did: files written, files skipped (already loaded, or unrecognised in a folder)."""

    loaded: list[LoadedFile] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.loaded)


def expand(paths: Iterable[Path | str], source: str | None) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to read: named files as given; folders contribute the CSV files whose source is recognisable."""
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for path in map(Path, paths):
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CSV_SUFFIXES):
                if source or detect_source(_head(child)):
                    files.append(child)
                else:
                    skipped.append((child, "not a recognised source"))
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"{path}: no such file or folder")
    return files, skipped


def load_paths(paths: Iterable[Path | str], source: str | None = None, synthetic: bool = False,
               progress: Progress | None = None, release_date: date | None = None,
               warehouse: Path | str | None = None) -> LoadReport:
    """Validate and load files or folders into the warehouse (default: the `warehouse` setting).

    Raises ValidationFailed listing every problem (file, row, column) when any file is bad; nothing is
    then written. `release_date` applies to files whose release is not in a Date column or the file name.
    """
    files, skipped = expand(paths, source)
    return load_sourced([(source, f) for f in files], synthetic=synthetic, progress=progress,
                        release_date=release_date, warehouse=warehouse, skipped=skipped)


def load_sourced(items: Iterable[tuple[str | None, Path]], synthetic: bool = False,
                 progress: Progress | None = None, release_date: date | None = None,
                 warehouse: Path | str | None = None, skipped: list[tuple[Path, str]] | None = None,
                 con: duckdb.DuckDBPyConnection | None = None) -> LoadReport:
    """Like load_paths, for (source name or None to detect it, file) pairs; all in one transaction.

    With `con` (a connection to a warehouse version being written, see versions.new_version) the load goes
    into it; otherwise into a new version of `warehouse`, published when the load succeeds."""
    items, streamed = _split_streamed([(name, Path(path)) for name, path in items])
    if con is not None:
        report = _load(con, items, synthetic, progress, release_date, skipped)
        failure = _stream(con, streamed, report, synthetic, progress)
    else:
        everything = [*items, *((name, p) for name, paths in streamed.items() for p in paths)]
        names = ", ".join(p.name for _, p in everything[:3]) + (
            f" and {len(everything) - 3} more" if len(everything) > 3 else "")
        with new_version(warehouse, note=f"load {names}") as draft:
            report = _load(draft.con, items, synthetic, progress, release_date, skipped)
            # after the batch (e.g. prescribing matched to the practices just loaded), in the same version
            failure = _stream(draft.con, streamed, report, synthetic, progress)
            draft.keep = bool(report.loaded)
    if failure is not None:
        raise failure  # the months that passed are loaded (and published); the refused ones changed nothing
    return report


def _head(path: Path) -> list[str]:
    """The header of a file, reading only its first 64 KiB (prescribing months are ~100 MB each)."""
    with path.open("rb") as handle:
        return header_of(handle.read(65536))


def _split_streamed(items: list[tuple[str | None, Path]]):
    """Items the in-memory loader reads, and {source name: paths} for sources that stream their own files."""
    rest: list[tuple[str | None, Path]] = []
    streamed: dict[str, list[Path]] = {}
    for name, path in items:
        source = get_source(name) if name is not None else detect_source(_head(path))
        if source is not None and source.stream_load is not None:
            streamed.setdefault(source.name, []).append(path)
        else:
            rest.append((name, path))
    return rest, streamed


def _stream(con: duckdb.DuckDBPyConnection, streamed: dict[str, list[Path]], report: LoadReport, synthetic: bool,
            progress: Progress | None) -> PartialLoad | None:
    """Load the streamed sources' files with their own loaders; a partial failure is returned, not raised."""
    for name, paths in streamed.items():
        try:
            done = get_source(name).stream_load(paths, synthetic=synthetic, con=con, progress=progress)
        except PartialLoad as exc:
            done, failure = exc.loaded, exc
        else:
            failure = None
        for item in done:
            if item.skipped:
                report.skipped.append((item.path, item.skipped))
            else:
                report.loaded.append(LoadedFile(item.path, name, item.rows, item.release_date))
        if failure is not None:
            return failure
    return None


def _load(con: duckdb.DuckDBPyConnection, items: list[tuple[str | None, Path]], synthetic: bool,
          progress: Progress | None, release_date: date | None, skipped: list[tuple[Path, str]] | None) -> LoadReport:
    progress = progress or (lambda *_: None)
    report = LoadReport(skipped=list(skipped or []))
    _check_provenance(con, synthetic)
    known = {r[0] for r in con.execute("SELECT sha256 FROM load_ledger").fetchall()}
    readings: list[Reading] = []
    problems: list[Problem] = []
    total = len(items) * 2
    for i, (name, path) in enumerate(items):
        progress(f"Validating {path.name}", i, total)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UserError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
        digest = sha256_of(data)
        if digest in known:
            report.skipped.append((path, "already loaded (same checksum)"))
            continue
        known.add(digest)
        item = read_file(path, name, release_date, data)
        readings.append(item)
        problems.extend(item.problems)
        if name is None:
            problems.extend(_check_name(item))
        problems.extend(_check_synthetic(item, synthetic))
    problems.extend(_check_codes(con, readings))
    if problems:
        raise ValidationFailed(problems)
    readings.sort(key=lambda r: LOAD_ORDER.index(r.source))
    _write_all(con, readings, synthetic, progress, len(items))
    report.loaded = [LoadedFile(r.path, r.source, r.row_count, r.release_date) for r in readings]
    progress("Done", total, total)
    return report


def _check_name(item: Reading) -> list[Problem]:
    """A file named like another source's files is refused (its header alone chose its source)."""
    if SOURCES[item.source].named_like(item.path):
        return []
    others = sorted(s.name for s in SOURCES.values() if s.named_like(item.path))
    if not others:
        return []  # a local name that says nothing: the header decides
    return [Problem(item.path.name, "source_mismatch",
                    f"the file name says {' or '.join(others)} but its columns are those of {item.source}: check "
                    "it is the right file, or name its source with --source", 1)]


def synthetic_evidence(item: Reading) -> str | None:
    """Why a file is taken for the demo's synthetic data, or None: the SYNTHETIC marker beside it, or codes
    that exist only in synthetic files (data zones S019..., postcodes in the non-existent ZZ area)."""
    if (item.path.parent / SYNTHETIC_MARKER).is_file():
        return f"a {SYNTHETIC_MARKER} marker file is beside it"
    for column, prefix in SYNTHETIC_CODES.items():
        if column in item.frame.columns and not item.frame.empty:
            # distinct codes only (in order of appearance): a population file repeats each code thousands of times
            values = item.frame[column].dropna().drop_duplicates().astype(str)
            hits = values[values.str.startswith(prefix)]
            if len(hits):
                return f"it holds synthetic {column.replace('_', ' ')} codes such as {hits.iloc[0]!r}"
    return None


def _check_synthetic(item: Reading, synthetic: bool) -> list[Problem]:
    evidence = synthetic_evidence(item)
    if evidence and not synthetic:
        return [Problem(item.path.name, "synthetic_file",
                        f"this is synthetic demo data ({evidence}); it cannot be loaded as real data (use "
                        "`gpcluster demo`, or `gpcluster load --synthetic` into a separate warehouse)")]
    if synthetic and not evidence:
        return [Problem(item.path.name, "real_file",
                        "a synthetic load takes only files written by gpcluster's generator (with the "
                        "SYNTHETIC marker beside them); this one looks real")]
    return []


def _write_all(con: duckdb.DuckDBPyConnection, readings: list[Reading], synthetic: bool, progress: Progress,
               n_files: int) -> None:
    con.execute("BEGIN TRANSACTION")
    writing = "the derived tables"
    try:
        done = 0
        for run in batches(readings):
            for item in run:
                progress(f"Loading {item.path.name}", n_files + done, n_files * 2)
                done += 1
            writing = ", ".join(item.path.name for item in run)
            clash = write_readings(con, run)
            if clash is not None:
                raise UserError(f"{writing}: the warehouse would hold two rows for {clash}; nothing was loaded")
        if readings:  # one statement for the batch's ledger rows, in load order
            con.execute("INSERT INTO load_ledger (source, file_name, sha256, row_count, release_date, synthetic) "
                        "VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(readings)),
                        [value for item in readings for value in
                         (item.source, item.path.name, item.sha256, item.row_count, item.release_date, synthetic)])
        writing = "the derived tables"
        loaded = {r.source for r in readings}
        if loaded & PRACTICE_FACTS:
            progress("Rebuilding clusters, practices and events", n_files * 2 - 1, n_files * 2)
            rebuild_derived(con)
        elif loaded & DATA_ZONE_FACTS:
            refresh_data_zone_population(con)
        con.execute("COMMIT")
    except duckdb.Error as exc:  # validation should have caught it: still a message, never a traceback
        con.execute("ROLLBACK")
        reason = str(exc).strip().splitlines()[0]
        raise UserError(f"{writing}: the warehouse refused the data ({reason}); nothing was loaded") from exc
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _check_provenance(con: duckdb.DuckDBPyConnection, synthetic: bool) -> None:
    kinds = {r[0] for r in con.execute("SELECT DISTINCT synthetic FROM load_ledger").fetchall()}
    if kinds and kinds != {synthetic}:
        held = "synthetic" if True in kinds else "real"
        raise UserError(f"this warehouse holds {held} data; load {'synthetic' if synthetic else 'real'} data "
                        "into a separate warehouse (set GPCLUSTER_HOME or GPCLUSTER_WAREHOUSE)")


def _check_codes(con: duckdb.DuckDBPyConnection, readings: list[Reading]) -> list[Problem]:
    """Board and HSCP codes must be known: reference lists, geography already loaded, or in this batch."""
    reference_boards, reference_hscps = reference_codes()
    boards = reference_boards | {r[0] for r in con.execute("SELECT board_code FROM board").fetchall()}
    hscps = reference_hscps | {r[0] for r in con.execute("SELECT hscp_code FROM hscp").fetchall()}
    for item in readings:
        if item.source == "geography_boards" and not item.frame.empty:
            boards |= set(item.frame["board_code"].dropna())
    found: list[Problem] = []
    for item in readings:
        if item.problems or item.frame.empty:
            continue
        if item.source == "geography_hscps":
            # A new HSCP needs its board; known ones may only be renamed.
            new = item.frame["board_code"].isna() & ~item.frame["hscp_code"].isin(hscps)
            found += [Problem(item.path.name, "missing_board", f"new HSCP {code} needs its board in an HB column",
                              int(line), "HB")
                      for line, code in zip(item.frame.loc[new, LINE], item.frame.loc[new, "hscp_code"], strict=True)]
            found += _unknown(item, "board_code", "HB", boards, "board")
            continue
        found += _unknown(item, "board_code", "HB", boards, "board")
        found += _unknown(item, "hscp_code", "HSCP", hscps, "HSCP")
        found += _unknown(item, "area_code", "HB", boards | {SCOTLAND}, "board")
    return found


def _unknown(item: Reading, column: str, file_column: str, allowed: set[str], what: str) -> list[Problem]:
    """One Problem per unknown code (at its first row), at most 20."""
    if column not in item.frame or item.source == "geography_boards":
        return []
    values = item.frame[column]
    bad = values.notna() & ~values.isin(allowed)
    if not bad.any():  # the usual case: no selection to make
        return []
    unknown = item.frame.loc[bad, [column, LINE]].drop_duplicates(column)
    return [Problem(item.path.name, "unknown_code", f"unknown {what} code {code!r}", int(line), file_column)
            for code, line in unknown.head(20).itertuples(index=False)]
