"""Source registry: every external source gpcluster reads, by name. New sources register the same way.

`read_file(path, source=None)` auto-detects the source from the file's header when not named."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from gpcluster.errors import UserError
from gpcluster.sources import (
    geography,
    gp_headcount,
    gp_practice_contact_details,
    gp_practice_populations,
    population_estimates,
    practice_activity,
    prescriptions,
    reference_rates,
    simd,
    urban_rural,
)
from gpcluster.sources.base import Reading, Source, read_csv

SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    """Add a source to the registry (built-ins are registered exactly like extensions)."""
    SOURCES[source.name] = source
    return source


for _source in (
    gp_practice_contact_details.SOURCE, gp_practice_populations.SOURCE, simd.SOURCE, urban_rural.SOURCE,
    geography.BOARDS, geography.HSCPS, geography.DATA_ZONES, population_estimates.DATA_ZONE_POPULATIONS,
    population_estimates.BOARD_POPULATIONS, gp_headcount.SOURCE, practice_activity.SOURCE, reference_rates.SOURCE,
    prescriptions.SOURCE,
):
    register(_source)

DETECT_THRESHOLD = 0.6  # share of a source's required columns a header needs to be taken for that source


def get_source(name: str) -> Source:
    """The registered source called `name`."""
    if name not in SOURCES:
        raise UserError(f"unknown source {name!r}; known sources: {', '.join(sorted(SOURCES))}")
    return SOURCES[name]


def header_of(data: bytes) -> list[str]:
    """The header row of CSV/TSV bytes (empty when the bytes are not UTF-8 text)."""
    try:
        first = data[:65536].decode("utf-8-sig", errors="strict").split("\n", 1)[0].rstrip("\r")
    except UnicodeDecodeError:
        first = data[:65536].decode("latin-1").split("\n", 1)[0].rstrip("\r")
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    try:
        return next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
    except csv.Error:  # not CSV text at all (binary content)
        return []


def detect_source(header: list[str]) -> Source | None:
    """The source whose required columns best match `header`, or None if none matches well enough."""
    scored = sorted(((s.match_score(header), s.name) for s in SOURCES.values()), reverse=True)
    if not scored or scored[0][0] < DETECT_THRESHOLD:
        return None
    if len(scored) > 1 and scored[1][0] == scored[0][0] and scored[0][0] < 1:
        return None
    return SOURCES[scored[0][1]]


def read_file(path: Path, source: str | None = None, release_date: date | None = None,
              data: bytes | None = None) -> Reading:
    """Read and validate one file. Problems are collected in the Reading, never raised."""
    data = path.read_bytes() if data is None else data
    chosen = get_source(source) if source else detect_source(header_of(data))
    if chosen is None:
        if b"\x00" in data[:65536]:
            raise UserError(f"{path.name}, row 1: not a text CSV file (it holds binary data, e.g. a spreadsheet "
                            "or an archive); export it as CSV first")
        shown = ", ".join(h[:40] for h in header_of(data)[:8]) or "none"
        raise UserError(f"{path.name}, row 1: cannot tell which source this file is from (header: {shown}); "
                        "name it with --source")
    raw = read_csv(path, chosen.columns, data)
    return chosen.parse(raw, release_date)
