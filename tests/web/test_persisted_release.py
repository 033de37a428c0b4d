"""The disclosed release kept on disk beside its warehouse version (gpcluster.web.persisted_release): read
back it is exactly the release built afresh; a change of version or disclosure settings never reuses it;
a damaged or partial file is ignored, removed and rebuilt; concurrent writers leave one good file."""

from __future__ import annotations

import os
import shutil
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gpcluster import checksummed
from gpcluster.web import persisted_release
from gpcluster.web.data import ReleasedRows, WebData


@pytest.fixture
def version(warehouse_file, tmp_path) -> Path:
    """A private copy of the test warehouse (its release files are this test's own)."""
    copy = tmp_path / "000001.duckdb"
    shutil.copy2(warehouse_file, copy)
    return copy


def _release(file: Path, *, may_query: bool = True) -> tuple[ReleasedRows, bool]:
    """The release of `file` as the app holds it, and whether it was built by querying the warehouse."""
    data = WebData(file)
    queried = []
    select = data._select

    def spy(*args):
        queried.append(True)
        if not may_query:
            raise AssertionError("the release was queried, not read from its file")
        return select(*args)

    data._select = spy
    try:
        data.load_release()
        return data._released, bool(queried)
    finally:
        data.close()


def _stored(file: Path) -> list[Path]:
    return sorted(file.parent.glob(file.name + ".release-*.arrow"))


def _assert_same_release(a: ReleasedRows, b: ReleasedRows) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)  # values, missing values and types
    assert len(a.frame) > 100
    for column in ReleasedRows.FILTERS:  # the indexes find the same rows
        assert np.array_equal(a._codes[column], b._codes[column]), column
        assert a._lookup[column] == b._lookup[column], column
    for ask in (dict(level=["practice"], period=[a.frame["period"].iloc[-1]]),
                dict(cluster_id=[a.frame["cluster_id"].dropna().iloc[0]], level=["practice"]),
                dict(indicator_id=[a.frame["indicator_id"].iloc[0]], area_code=["no such practice"])):
        pd.testing.assert_frame_equal(a.select(**ask), b.select(**ask), check_exact=True)


def test_the_stored_release_is_exactly_the_one_built_afresh(version):
    built, queried = _release(version)
    assert queried and len(_stored(version)) == 1
    read, _ = _release(version, may_query=False)
    _assert_same_release(read, built)
    assert read.frame["suppressed"].any() and read.frame["numerator"].isna().any()
    assert os.stat(_stored(version)[0]).st_mode & 0o077 == 0  # readable by the server's user only


def test_the_indexes_give_each_values_rows_in_ascending_position(version):
    """ReleasedRows' index of each filter column: the rows of value k are order[bounds[k]:bounds[k + 1]],
    ascending, exactly the rows a scan of the column finds (and the missing value's rows come first)."""
    for released in (_release(version)[0], _release(version, may_query=False)[0]):
        for column in ReleasedRows.FILTERS:
            codes = released._codes[column]
            order, bounds = released._groups[column]
            assert len(bounds) == len(released._lookup[column]) + 1 and bounds[-1] == len(codes)
            assert np.array_equal(order[: (codes < 0).sum()], np.flatnonzero(codes < 0)), column
            for k in range(len(bounds) - 1):
                assert np.array_equal(order[bounds[k]:bounds[k + 1]], np.flatnonzero(codes == k)), (column, k)


def test_the_stored_text_is_read_as_the_python_strings_pages_use_without_a_detour(version, monkeypatch):
    """Read back, text columns are Python strings at once: pandas is never left to infer its Arrow-backed
    text type string by string (about 2 s of CPU per server start on demo Scotland, holding the
    interpreter lock while the first pages were served, only for ReleasedRows to turn them back)."""
    _release(version)
    from pandas.core.arrays import string_arrow

    from gpcluster.indicators.suppression import settings

    data = WebData(version)
    try:
        key = persisted_release.release_key(data.file, data._pattern, data.rules, settings())
    finally:
        data.close()
    built_text = []
    original = string_arrow.ArrowStringArray._from_sequence.__func__
    monkeypatch.setattr(string_arrow.ArrowStringArray, "_from_sequence",
                        classmethod(lambda cls, values, *a, **k: built_text.append(len(values)) or original(cls, values, *a, **k)))
    frame, codes = persisted_release.read(version, key)
    assert sum(built_text) <= len(frame.columns) < len(frame)  # the column names at most, not a row's text
    for column in ("indicator_id", "level", "area_code", "area_name", "cluster_id", "period"):
        assert frame[column].dtype == object, column
        codes_of, distinct = codes[column]
        row = int(np.flatnonzero(codes_of >= 0)[0])
        assert frame[column].iloc[row] is distinct[codes_of[row]]  # each distinct value shared, not copied


def test_other_disclosure_settings_do_not_reuse_the_stored_release(version, monkeypatch):
    lenient, _ = _release(version)
    monkeypatch.setenv("GPCLUSTER_DISCLOSURE_THRESHOLD", "1000")
    strict, queried = _release(version)
    assert queried, "a release stored under other disclosure settings was reused"
    assert strict.frame["suppressed"].sum() > lenient.frame["suppressed"].sum()
    assert len(_stored(version)) == 1  # the other settings' file is replaced, not kept beside it
    again, _ = _release(version, may_query=False)
    _assert_same_release(again, strict)


def test_another_version_does_not_reuse_the_stored_release(version):
    _release(version)
    newer = version.with_name("000002.duckdb")
    shutil.copy2(version, newer)
    _, queried = _release(newer)
    assert queried, "the release of another version file was reused"
    os.utime(version, ns=(version.stat().st_atime_ns, version.stat().st_mtime_ns + 10**9))  # rewritten in place
    _, queried = _release(version)
    assert queried, "the release of a version file changed since was reused"


@pytest.mark.parametrize("ahead", [False, True], ids=["checked at read", "checked ahead"])
@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "empty", "written under another key"])
def test_a_damaged_or_partial_file_is_ignored_and_rebuilt(version, damage, ahead):
    built, _ = _release(version)
    [path] = _stored(version)
    content = path.read_bytes()
    if damage == "flipped byte":  # in the middle: a number of the release, not the file's framing
        middle = len(content) // 2
        content = content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1:]
    elif damage == "truncated":
        content = content[: len(content) // 3]
    elif damage == "empty":
        content = b""
    else:  # a whole, well-formed file whose content says it holds another key's release (checksum right)
        import pyarrow as pa

        wrong = persisted_release._encode(built.frame.head(3), {}).replace_schema_metadata(
            {"gpcluster_release_key": "0" * 32})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, wrong.schema) as writer:
            writer.write_table(wrong)
        content = sink.getvalue().to_pybytes()
        path.unlink()
        key = persisted_release._NAME.search(path.name)["key"]
        path = path.with_name(f"{version.name}.release-{key}-{zlib.crc32(content):08x}.arrow")
    path.write_bytes(content)
    if ahead:  # as `serve --workers N` does beside its imports
        checksummed.check_ahead(version)
    rebuilt, queried = _release(version)
    assert queried, f"a file {damage} was read"
    _assert_same_release(rebuilt, built)
    [good] = _stored(version)
    assert good.read_bytes() != content


def test_a_release_checked_ahead_is_read_from_the_bytes_checked_without_checking_them_again(version, monkeypatch):
    """`serve --workers N` maps and checks the kept release in a thread beside its imports; the read then
    decodes those very bytes (each file mapped and checksummed once), and what was checked ahead and not
    read is dropped before the fork (no thread or mapping left)."""
    built, _ = _release(version)
    maps = []
    original = checksummed._map
    monkeypatch.setattr(checksummed, "_map", lambda path: maps.append(path) or original(path))
    checksummed.check_ahead(version)
    read, _ = _release(version, may_query=False)
    assert maps == _stored(version)
    _assert_same_release(read, built)
    assert not checksummed._ahead and not checksummed._workers
    checksummed.check_ahead(version)  # checked, never read (e.g. the view could not be opened)
    checksummed.forget_ahead()
    assert not checksummed._ahead and not checksummed._workers


def test_processes_writing_at_once_leave_one_complete_file(version):
    built, _ = _release(version)
    for path in _stored(version):
        path.unlink()
    data = WebData(version)
    from gpcluster.indicators.suppression import settings

    key = persisted_release.release_key(data.file, data._pattern, data.rules, settings())
    data.close()
    errors = []

    def write():
        try:
            persisted_release.write(version, key, built.frame, built.factorised)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    writers = [threading.Thread(target=write) for _ in range(4)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    assert not errors
    assert len(_stored(version)) == 1 and not list(version.parent.glob(".*.tmp"))
    read, _ = _release(version, may_query=False)
    _assert_same_release(read, built)


def test_files_of_versions_that_are_gone_are_removed(version):
    _release(version)
    older = version.with_name("000000.duckdb")
    shutil.copy2(version, older)
    _release(older)
    assert len(_stored(older)) == 1
    older.unlink()  # pruned
    for path in _stored(version):
        path.unlink()
    _release(version)  # writing a release tidies the folder
    assert not _stored(older) and len(_stored(version)) == 1


def test_a_process_starting_while_another_builds_the_release_waits_and_reads_it(version):
    built, _ = _release(version)
    [path] = _stored(version)
    content = path.read_bytes()
    path.unlink()
    outcome = {}

    def start():
        outcome["release"], outcome["queried"] = _release(version)

    with persisted_release.building(version):  # another process is building it
        second = threading.Thread(target=start)
        second.start()
        second.join(timeout=1.0)
        assert second.is_alive(), "the release was built while another process held the lock"
        path.write_bytes(content)  # the other process's file lands
    second.join(timeout=60)
    assert not outcome["queried"], "a process waiting for another's release built its own"
    _assert_same_release(outcome["release"], built)


def test_closing_a_version_stops_waiting_for_its_release(version):
    with persisted_release.building(version):
        data = WebData(version, hold_release=True)
        time.sleep(0.3)
        began = time.monotonic()
        data.close()
        assert time.monotonic() - began < 5
        assert not data.release_held


def test_the_low_priority_prerender_never_makes_a_server_wait_for_its_build(version):
    """The prerender (niced) builds without the lock: holding it while slow would hold up every server process."""
    done = {}

    def prerender_load():
        data = WebData(version)
        try:
            data.load_release(wait_for_others=False)
            done["held"] = data.release_held
        finally:
            data.close()

    with persisted_release.building(version):  # a server process is building it
        thread = threading.Thread(target=prerender_load)
        thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive() and done["held"], "the prerender waited for the lock"
    assert len(_stored(version)) == 1


def test_a_change_to_the_disclosure_module_names_another_release_file(monkeypatch, tmp_path):
    """The release is what disclosure control made of the figures: a release of gpcluster that changes
    stats/disclosure.py (not one of the modules the key once listed) must not read the old file."""
    import pandas as pd

    from gpcluster.web import persisted, persisted_release

    version = tmp_path / "000001.duckdb"
    version.write_bytes(b"a version")
    pattern = pd.DataFrame({"practice_code": ["10001"], "suppressed": [True]})
    key = persisted_release.release_key(version, pattern, {}, ("settings",))
    assert persisted_release.release_key(version, pattern, {}, ("settings",)) == key
    real = persisted.code_fingerprint()
    monkeypatch.setattr(persisted_release, "code_fingerprint",
                        lambda: real + "stats/disclosure.py changed")
    assert persisted_release.release_key(version, pattern, {}, ("settings",)) != key


@pytest.fixture
def preopened(monkeypatch):
    """gpcluster.web.data with nothing opened before a fork yet (and left so after the test)."""
    from gpcluster.web import data as web_data

    monkeypatch.setattr(web_data, "_PREOPENED", None)
    return web_data


def test_the_view_opened_before_the_fork_is_adopted_with_its_release_and_a_connection_of_its_own(version, preopened):
    """`serve --workers N` opens the view and reads the kept release once, before forking; each server
    process adopts them with its own connection, reading nothing again, and answers as a view it opened."""
    import duckdb

    from gpcluster.web.data import LiveWebData

    built, _ = _release(version)
    preopened.preopen_for_workers(version)
    before = preopened._PREOPENED
    assert before is not None and before.release_held
    with pytest.raises(duckdb.Error):  # closed: no connection crosses the fork
        before._con.execute("SELECT 1")
    live = LiveWebData(version, poll_seconds=0)
    fresh = WebData(version)
    try:
        assert live.current is before and preopened._PREOPENED is None
        assert live.current._holder is None  # the release was not read again
        _assert_same_release(live.current._released, built)
        for name in ("rules", "indicators", "periods", "clusters", "practice_names", "synthetic", "has_signals"):
            assert getattr(live.current, name) == getattr(fresh, name), name
        pd.testing.assert_frame_equal(live.current.suppression, fresh.suppression)
        sql = "SELECT indicator_id, count(*) AS n FROM indicator_value GROUP BY ALL ORDER BY ALL"
        pd.testing.assert_frame_equal(live.current.query(sql), fresh.query(sql))  # its own connection works
        fresh.load_release()
        ask = dict(levels=["practice"], period=live.current.latest_period)
        pd.testing.assert_frame_equal(live.current.values(**ask), fresh.values(**ask), check_exact=True)
    finally:
        fresh.close()
        live.close()


def test_a_damaged_kept_release_is_never_adopted(version, preopened):
    """A kept file that fails its checksum is removed before the fork, not held: the processes build the
    release afresh (under the lock, as at a version's first start) and serve that."""
    from gpcluster.web.data import LiveWebData

    built, _ = _release(version)
    [stored] = _stored(version)
    content = bytearray(stored.read_bytes())
    content[len(content) // 2] ^= 0x01
    stored.write_bytes(bytes(content))
    preopened.preopen_for_workers(version)
    assert not preopened._PREOPENED.release_held and not stored.exists()
    live = LiveWebData(version, poll_seconds=0)
    try:
        live.current._holder.join()
        _assert_same_release(live.current._released, built)
        assert len(_stored(version)) == 1  # kept again, and good: read back, it is the release built afresh
        _assert_same_release(_release(version, may_query=False)[0], built)
    finally:
        live.close()


def test_a_view_of_a_version_replaced_before_the_fork_is_not_adopted(version, preopened, tmp_path):
    from gpcluster.web.data import LiveWebData

    link = tmp_path / "warehouse.duckdb"
    link.symlink_to(version)
    preopened.preopen_for_workers(link)
    assert preopened._PREOPENED.file == version
    newer = tmp_path / "000002.duckdb"
    shutil.copy2(version, newer)
    link.unlink()
    link.symlink_to(newer)
    live = LiveWebData(link, poll_seconds=0)
    try:
        assert live.current.file == newer and preopened._PREOPENED is None
    finally:
        live.close()


def test_a_warehouse_that_cannot_be_opened_before_the_fork_is_left_to_the_processes(tmp_path, preopened):
    preopened.preopen_for_workers(tmp_path / "missing.duckdb")  # each process reports it, as before
    assert preopened._PREOPENED is None
