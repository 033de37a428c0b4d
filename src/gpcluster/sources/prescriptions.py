"""PHS 'Prescriptions in the Community': every item dispensed in the community, by prescriber location,
one CSV a month (pitcYYYYMM.csv, about 1.2 million rows). The dataset also holds dispenser-location and
board-aggregate files; only the prescriber-location series is synced and loaded.

Files are far too large for the pandas reader the other sources share, so this source loads them itself,
streamed through DuckDB, one transaction per month (gpcluster.prescribing.ingest)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from gpcluster.sources.base import Column, PartialLoad, RawTable, Reading, Source, StreamedFile, reading

COLUMNS = (
    Column("HBT", ("HBT2014", "HBT2019", "HB", "HB2014", "HB2019")),
    Column("GPPractice", ("GPPracticeCode", "PracticeCode", "PrescriberLocation")),
    Column("BNFItemCode", ("BNFCode",)),
    Column("BNFItemDescription", ("BNFDescription",), required=False),
    Column("ClassOfPreparationCode", (), required=False),
    Column("NumberOfPaidItems", ("PaidItems",)),
    Column("PaidQuantity", ("Quantity",), required=False),
    Column("GrossIngredientCost", ("GIC",), required=False),
    Column("PaidDateMonth", ("PaidDate",)),
    Column("DMDCode", (), required=False),  # from May 2023
    Column("PrescribedType", (), required=False),  # from May 2023
)


def parse(raw: RawTable, release: date | None) -> Reading:
    """Never reads the file: prescribing is loaded by stream_load. Says so if called."""
    raw.problem("streamed_source", "prescribing files are loaded streamed by gpcluster.prescribing.ingest "
                "(gpcluster load and gpcluster sync --load do this); they are not read into memory")
    return reading(SOURCE, raw, raw.frame.iloc[0:0])


def stream_load(paths: Iterable[Path], *, synthetic: bool = False, con=None,
                progress: Callable[[str, int, int], None] | None = None) -> list[StreamedFile]:
    """Load prescribing months on `con` (a warehouse version being written), one transaction per month.

    Raises PartialLoad when some months were refused: it lists their problems and the months loaded."""
    from gpcluster.prescribing.ingest import PrescribingLoadFailed, load_prescribing

    def streamed(loads) -> list[StreamedFile]:
        return [StreamedFile(m.path, m.source_rows, m.month, m.skipped) for m in loads]

    try:
        return streamed(load_prescribing(paths, synthetic=synthetic, con=con, progress=progress))
    except PrescribingLoadFailed as exc:
        raise PartialLoad(str(exc), streamed(exc.loaded)) from exc


SOURCE = Source(
    name="prescriptions",
    title="Prescriptions in the Community (by prescriber location)",
    publisher="Public Health Scotland",
    columns=COLUMNS,
    parse=parse,
    dataset_id="84393984-14e9-4b0d-a797-b288db64d088",
    all_resources=True,
    # "Data by Prescriber Location - October 2024" (earlier: "Prescribing Data ...", one "Prescribing Location")
    resource_name=r"^(Data by Prescrib(er|ing) Location|Prescribing Data)\b",
    target="prescribing",
    file_names=r"pitc\d{6}",
    stream_load=stream_load,
)
